"""Schemathesis hooks of TestContract_SchemathesisFindsNothing (api/schemathesis_test.go).

Some rules of the API span several fields or depend on the clock: a search's check_out comes
after its check_in, a restaurant's turn is a multiple of its slot, a cursor is one the API gave.
JSON Schema cannot say them, so the OpenAPI document states them in prose (each operation's
`x-rules`). Schemathesis's positive cases are brought within those rules here, so that the
`positive_data_acceptance` check still holds the server to everything else the document says.
Negative cases are left as generated: every one of them must be refused.
"""

import datetime
import ipaddress
import urllib.parse

import schemathesis


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _date(value):
    """A date the calendar has, from YYYY-MM-DD that only looks like one (2026-02-30)."""
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        try:
            y, m, _ = (int(p) for p in str(value)[:10].split("-"))
            return datetime.date(min(max(y, 1), 9000), min(max(m, 1), 12), 28)
        except ValueError:
            return datetime.date(2030, 1, 1)


def _local_time(value):
    """A real local date and time from YYYY-MM-DDTHH:MM."""
    day, _, clock = str(value).partition("T")
    return _date(day).isoformat() + "T" + (clock or "12:00")


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def _search(case):
    q = case.query
    if not isinstance(q, dict):
        return
    q.pop("cursor", None)  # only next_cursor of the same search is a cursor
    if "facility" in q:  # at most 20 facilities in all, comma-separated or not
        values = q["facility"] if isinstance(q["facility"], list) else [q["facility"]]
        kept, n = [], 0
        for v in values:
            items = str(v).split(",")
            if n + len(items) > 20:
                break
            kept.append(v)
            n += len(items)
        if kept:
            q["facility"] = kept
        else:
            q.pop("facility")
    if ("lat" in q) != ("lon" in q):
        q.pop("lat", None)
        q.pop("lon", None)
    geo = "lat" in q and "lon" in q
    if not geo:
        q.pop("radius_km", None)
    kind = _first(q.get("kind"))
    if kind == "hotel":
        q.pop("start_time", None)
        q.pop("cuisine", None)
    elif kind == "restaurant" or "start_time" in q or "cuisine" in q:
        q.pop("check_in", None)
        q.pop("check_out", None)
    if "start_time" in q:
        q["start_time"] = _local_time(_first(q["start_time"]))
    if ("check_in" in q) != ("check_out" in q):
        q.pop("check_in", None)
        q.pop("check_out", None)
    if "check_in" in q:
        start = _date(_first(q["check_in"]))
        end = _date(_first(q["check_out"]))
        nights = min(max((end - start).days, 1), 30)
        q["check_in"] = start.isoformat()
        q["check_out"] = (start + datetime.timedelta(days=nights)).isoformat()
    if "min_price" in q and "max_price" in q and int(_first(q["max_price"])) < int(_first(q["min_price"])):
        q["min_price"], q["max_price"] = q["max_price"], q["min_price"]
    sort = _first(q.get("sort"))
    if sort == "distance" and not geo:
        q.pop("sort")
    if sort == "price" and not (geo or "city" in q):
        q.pop("sort")


def _public_url(url):
    """Whether a webhook URL's host is a public one (the server refuses others)."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True


def _vendor(case):
    body = case.body
    if not isinstance(body, dict):
        return
    slot, turn = body.get("slot_minutes"), body.get("turn_minutes")
    if isinstance(slot, int) and isinstance(turn, int) and slot > 0:
        body["turn_minutes"] = slot * max(1, min(turn, 720) // slot)
    elif case.method.upper() == "PUT":
        # One of the two alone is checked against the stored other one.
        body.pop("slot_minutes", None)
        body.pop("turn_minutes", None)
    url = body.get("webhook_url")
    if isinstance(url, str) and url and not _public_url(url):
        body.pop("webhook_url")


def _user_update(case):
    body = case.body
    if not isinstance(body, dict):
        return
    if not any(k in body for k in ("email", "name", "phone", "password")):
        body["name"] = "Renamed"
    if ("email" in body or "password" in body) and "current_password" not in body:
        body["current_password"] = "not-the-password"


def _booking_list(case):
    q = case.query
    if not isinstance(q, dict):
        return
    q.pop("cursor", None)
    for name in ("from", "to"):
        if name in q:
            value = str(_first(q[name]))
            q[name] = _date(value[:10]).isoformat() + value[10:]
    if "from" in q and "to" in q and str(_first(q["to"]))[:10] <= str(_first(q["from"]))[:10]:
        q.pop("to")


def _feed(case):
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)


def _booking(case):
    body = case.body
    if not isinstance(body, dict):
        return
    today = datetime.date.today()
    if "start_time" in body:
        body.pop("check_in", None)
        body.pop("check_out", None)
        body["start_time"] = (today + datetime.timedelta(days=7)).isoformat() + "T" + body["start_time"][11:]
    elif "check_in" in body or "check_out" in body:
        start = today + datetime.timedelta(days=10)
        body["check_in"] = start.isoformat()
        body["check_out"] = (start + datetime.timedelta(days=2)).isoformat()


def _quote(case):
    """A vendor page's quote: a hotel's dates or a restaurant's start time, in the coming year."""
    q = case.query
    if not isinstance(q, dict):
        return
    today = datetime.date.today()
    if "check_in" in q or "check_out" in q:
        q.pop("start_time", None)
        start = today + datetime.timedelta(days=10)
        q["check_in"] = start.isoformat()
        q["check_out"] = (start + datetime.timedelta(days=2)).isoformat()
    elif "start_time" in q:
        clock = str(_first(q["start_time"]))[11:] or "12:00"
        q["start_time"] = (today + datetime.timedelta(days=7)).isoformat() + "T" + clock


FIXES = {
    ("GET", "/vendor/{vendorid}"): _quote,
    ("GET", "/vendors"): _search,
    ("POST", "/vendor/create"): _vendor,
    ("PUT", "/vendor/{vendorid}"): _vendor,
    ("PUT", "/user/{userid}"): _user_update,
    ("GET", "/bookings/user/{userid}"): _booking_list,
    ("GET", "/bookings/vendor/{vendorid}"): _booking_list,
    ("GET", "/notifications"): _feed,
    ("POST", "/booking/vendor/{vendorid}"): _booking,
    ("PUT", "/booking/{bookingid}"): _booking,
}


@schemathesis.hook
def map_case(ctx, case):
    if _positive(case):
        fix = FIXES.get((case.method.upper(), case.operation.path))
        if fix is not None:
            fix(case)
    return case
