"""The google.cloud.location.Locations mixin.

The emulator serves any well-formed location. ListLocations shows the default location
plus every location that holds a queue of the project.
"""

from __future__ import annotations

from typing import Any

from google.cloud.location import locations_pb2

from emulator.api import paging
from emulator.store import Store, limits
from emulator.store.names import LocationName, parse_project

MAX_PAGE_SIZE = 1000


def _location(name: LocationName) -> Any:
    return locations_pb2.Location(
        name=str(name),
        location_id=name.location,
        display_name=name.location,
        labels={"cloud.googleapis.com/region": name.location},
    )


class LocationsService:
    def __init__(self, store: Store, default_location: str = limits.DEFAULT_LOCATION) -> None:
        self.store = store
        self.default_location = default_location

    def list_locations(self, request: Any) -> Any:
        project = parse_project(request.name)
        size = paging.page_size(request.page_size, MAX_PAGE_SIZE)
        token = paging.decode(
            request.page_token, filter_=request.filter, now=self.store.clock.now()
        )
        after = str(token.after) if token else ""
        ids = sorted({self.default_location, *self.store.locations(project)})
        ids = [i for i in ids if i > after]
        response = locations_pb2.ListLocationsResponse(
            locations=[_location(LocationName(project, i)) for i in ids[:size]]
        )
        if len(ids) > size:
            response.next_page_token = paging.PageToken(
                after=ids[size - 1],
                filter=request.filter,
                issued=self.store.clock.now().timestamp(),
            ).encode()
        return response

    def get_location(self, request: Any) -> Any:
        return _location(LocationName.parse(request.name))
