"""The google.cloud.location.Locations mixin.

The emulator serves any well-formed location. ListLocations shows the default location
first (where gcloud looks for a project's default), then every other location that holds
a queue of the project, in order.
"""

from __future__ import annotations

from typing import Any

from google.cloud.location import locations_pb2

from emulator.core import limits
from emulator.service import paging
from emulator.store import Store
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
        others = sorted(self.store.locations(project) - {self.default_location})
        ids, next_token = paging.paginate(
            [self.default_location, *others],
            lambda location_id: f"{location_id != self.default_location:d}{location_id}",
            token=request.page_token,
            filter_=request.filter,
            size=paging.page_size(request.page_size, MAX_PAGE_SIZE),
            now=self.store.clock.now(),
        )
        return locations_pb2.ListLocationsResponse(
            locations=[_location(LocationName(project, i)) for i in ids],
            next_page_token=next_token,
        )

    def get_location(self, request: Any) -> Any:
        return _location(LocationName.parse(request.name))
