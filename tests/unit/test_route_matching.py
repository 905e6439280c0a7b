"""`emulator.core.routes` (parsing and matching --route) and the audience rule of
`emulator.dispatch.front_door`: pure, no emulator."""

from __future__ import annotations

import re

import pytest

from emulator.core.routes import Route, RouteTable, build, from_mapping, parse
from emulator.dispatch.front_door import service_url_accepts

RUN = "https://*-uc.a.run.app=http://worker:8080"


def where(table: RouteTable, url: str) -> str | None:
    routed = table.match(url)
    return routed.url if routed else None


def test_a_wildcard_route_keeps_path_and_query_and_names_the_production_host() -> None:
    table = RouteTable([parse(RUN)])
    routed = table.match("https://worker-xyz-uc.a.run.app/tasks/email?a=1&b=2")
    assert routed is not None
    assert routed.url == "http://worker:8080/tasks/email?a=1&b=2"
    assert routed.host == "worker-xyz-uc.a.run.app"
    assert routed.service_url == "https://worker-xyz-uc.a.run.app"
    assert routed.route.auth is False


@pytest.mark.parametrize(
    "url",
    [
        "http://worker-xyz-uc.a.run.app/x",  # the pattern's scheme is https
        "https://-uc.a.run.app/x",  # "*" stands for at least one character
        "https://worker-xyz-ew.a.run.app/x",
        "https://uc.a.run.app.evil.example/x",
        "http://127.0.0.1:8080/x",
    ],
)
def test_what_a_wildcard_route_does_not_match(url: str) -> None:
    assert where(RouteTable([parse(RUN)]), url) is None


def test_without_routes_nothing_matches() -> None:
    table = RouteTable()
    assert not table
    assert table.match("https://worker-xyz-uc.a.run.app/") is None


def test_the_most_specific_pattern_wins_whatever_the_order() -> None:
    routes = [
        parse("*.run.app=http://any-run:1"),
        parse("https://*-uc.a.run.app=http://uc:2"),
        parse("https://billing-xyz-uc.a.run.app=http://billing:3"),
        parse("https://billing-xyz-uc.a.run.app/admin=http://admin:4"),
        parse("https://billing-xyz-uc.a.run.app:8443=http://billing-tls:5"),
    ]
    for order in (routes, routes[::-1]):
        table = RouteTable(order)
        assert where(table, "https://billing-xyz-uc.a.run.app/t") == "http://billing:3/t"
        assert where(table, "https://billing-xyz-uc.a.run.app/admin/x") == "http://admin:4/admin/x"
        assert where(table, "https://billing-xyz-uc.a.run.app/adminx") == "http://billing:3/adminx"
        assert where(table, "https://billing-xyz-uc.a.run.app:8443/t") == "http://billing-tls:5/t"
        assert where(table, "https://mail-xyz-uc.a.run.app/t") == "http://uc:2/t"
        assert where(table, "https://mail-xyz.europe-west1.run.app/t") == "http://any-run:1/t"


def test_a_scheme_and_port_narrow_a_pattern() -> None:
    table = RouteTable(
        [parse("api.example.com:443=http://a:1"), parse("api.example.com=http://b:2")]
    )
    assert where(table, "https://api.example.com/x") == "http://a:1/x"  # 443 by default
    assert where(table, "http://api.example.com/x") == "http://b:2/x"  # port 80
    assert where(table, "https://API.Example.com/x") == "http://a:1/x"  # host names ignore case


def test_a_local_base_with_a_path_prefixes_the_task_path() -> None:
    table = RouteTable([parse("https://api.example.com=http://gateway:9000/api/")])
    assert where(table, "https://api.example.com") == "http://gateway:9000/api/"
    assert where(table, "https://api.example.com/v1/x?y") == "http://gateway:9000/api/v1/x?y"


def test_the_front_door_options() -> None:
    route = parse(
        "https://*-uc.a.run.app=http://w:8080;invoker=serviceAccount:a@p.iam.gserviceaccount.com,"
        "b@p.iam.gserviceaccount.com;audiences=https://api.example.com,my-service"
    )
    assert route.auth is True
    assert route.invokers == ("a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com")
    assert route.audiences == ("https://api.example.com", "my-service")
    assert parse(RUN + ";auth").auth is True
    assert "front door" in route.describe()


def test_the_mapping_form_is_the_same_route() -> None:
    mapped = from_mapping(
        {
            "pattern": "https://*-uc.a.run.app",
            "to": "http://w:8080",
            "invoker": ["a@p.iam"],
            "audiences": "x,y",
        }
    )
    flag = parse("https://*-uc.a.run.app=http://w:8080;invoker=a@p.iam;audiences=x,y")
    assert mapped == flag
    assert from_mapping({"pattern": "a.example.com", "to": "http://a", "auth": True}).auth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://*-uc.a.run.app", "not a route"),
        ("=http://w", "not a route"),
        ("ftp://x.example.com=http://w", "the scheme is http or https"),
        ("*=http://w", "not a host name"),
        ("*run=http://w", "a wildcard needs a domain after it"),
        ("a.*.example.com=http://w", "not a host name"),
        ("https://x.example.com/?a=1=http://w", "no query or fragment"),
        ("x.example.com:99999=http://w", "out of range"),
        ("x.example.com=worker:8080", "not an http:// or https:// URL"),
        ("x.example.com=http://w?x=1", "no query or fragment"),
        ("x.example.com=http://w;invoker=", "one or more non-empty strings"),
        ("x.example.com=http://w;colour=blue", "unknown route option 'colour=blue'"),
        ("x.example.com=http://w;auth=yes", "unknown route option"),
    ],
)
def test_bad_routes_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(text)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pattern": "x.example.com"}, "a route needs to"),
        ({"pattern": "x.example.com", "to": "http://w", "colour": "blue"}, "unknown route field"),
        ({"pattern": "x.example.com", "to": "http://w", "auth": "yes"}, "expected true or false"),
        ({"pattern": "x.example.com", "to": "http://w", "invoker": 3}, "expected a list"),
    ],
)
def test_bad_mapping_routes(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        from_mapping(fields)


def test_the_same_pattern_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        RouteTable([parse(RUN), parse("https://*-uc.a.run.app=http://other:1")])


def test_a_route_is_plain_data() -> None:
    assert build("x.example.com", "http://w/") == Route(
        pattern="x.example.com",
        scheme=None,
        host="x.example.com",
        port=None,
        path="",
        base="http://w",
    )


SERVICE = "https://worker-xyz-uc.a.run.app"


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [
        (SERVICE, True),
        (SERVICE + "/", True),
        (SERVICE + "/tasks/email", True),  # the path may be given (Cloud Tasks' default)
        ("https://WORKER-xyz-uc.a.run.app", True),
        (SERVICE + "/tasks/email?a=b", False),  # googleapis/python-tasks#137
        (SERVICE + "/?", False),
        (SERVICE + "#top", False),
        ("http://worker-xyz-uc.a.run.app", False),
        (SERVICE + ":443", False),
        ("https://other-xyz-uc.a.run.app", False),
        ("worker-xyz-uc.a.run.app", False),
        ("my-service", False),
    ],
)
def test_the_audiences_cloud_run_accepts_for_its_service_url(audience: str, accepted: bool) -> None:
    assert service_url_accepts(audience, SERVICE) is accepted
