"""The sync service's OpenAPI document, written out by hand from sync/protocol.py's messages."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "The request is not a protocol message (named in the message)",
        401: "No token, or a token the centre does not know",
        403: "The station is revoked",
        408: "The body did not arrive in time",
        409: "The body names another station than the token's",
        413: "The body is over the size limit, or a push holds more than 2 000 events",
        415: "Unsupported Content-Encoding",
        426: "The protocol version is not accepted: upgrade the station",
        503: "Busy (Retry-After) or the database cannot be reached",
    }
    return {str(c): _answer(words[c], _ERROR) for c in codes}


def openapi_document(version: str) -> dict[str, Any]:
    event = {
        "type": "object",
        "description": "One station event (Event.to_wire()); each is validated on its own: a "
                       "bad one is rejected alone with reason malformed_event",
        "properties": {
            "event_id": {"type": "string"}, "station_id": {"type": "string"},
            "seq": {"type": "integer"}, "type": {"type": "string"},
            "operator": {"type": "string"}, "device_time": {"type": "string"},
            "parent": {"type": ["string", "null"]}, "child": {"type": ["string", "null"]},
            "bill": {"type": ["string", "null"]}, "data": {"type": "object"},
            "app_version": {"type": "string"}, "protocol_version": {"type": "integer"},
        },
    }
    schemas = {
        "Error": {
            "type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
        "PushBatch": {
            "type": "object",
            "required": ["station_id", "protocol_version", "events"],
            "properties": {
                "station_id": {"type": "string"},
                "protocol_version": {"type": "integer"},
                "app_version": {"type": "string"},
                "events": {"type": "array", "items": event},
                "backlog": {"type": "integer"},
                "oldest_pending_s": {"type": ["number", "null"]},
                "device_time": {"type": "string"},
            },
        },
        "EventResult": {
            "type": "object", "required": ["event_id", "seq", "result"],
            "properties": {
                "event_id": {"type": "string"}, "seq": {"type": "integer"},
                "result": {"type": "string", "enum": ["applied", "duplicate", "rejected"]},
                "reason": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]},
            },
        },
        "PushReply": {
            "type": "object",
            "required": ["results", "station_count", "high_seq", "rolling_hash"],
            "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/EventResult"}},
                "station_count": {"type": "integer"}, "high_seq": {"type": "integer"},
                "rolling_hash": {"type": "string"},
                "retry_after": {"type": ["number", "null"]},
                "clock_skew_s": {"type": ["number", "null"]},
            },
        },
        "PullRequest": {
            "type": "object", "required": ["station_id"],
            "properties": {
                "station_id": {"type": "string"}, "cursor": {"type": ["string", "null"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20000},
            },
        },
        "PullPage": {
            "type": "object", "required": ["changes", "cursor", "done"],
            "properties": {
                "changes": {"type": "array", "items": {"type": "object"}},
                "cursor": {"type": "string"}, "done": {"type": "boolean"},
                "bootstrap": {"type": "boolean"}, "extra": {"type": "object"},
            },
        },
        "Whoami": {
            "type": "object",
            "properties": {
                "station_id": {"type": "string"}, "area": {"type": "string"},
                "scope": {"type": "string"},
                "protocol_versions": {"type": "array", "items": {"type": "integer"}},
                "service_version": {"type": "string"},
                "centre_id": {"type": "string", "description": "This centre's identity (also "
                              "the TraceTrack-Centre header of /v1/status): a station that "
                              "finds another one downloads that centre's state afresh"},
            },
        },
    }
    secured: list[dict[str, list[str]]] = [{"token": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "TraceTrack central sync service", "version": version},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/push": {"post": {
                "summary": "Apply one batch of a station's events; a result for every event",
                "security": secured,
                "parameters": [{
                    "name": "X-Tracetrack-After-Seq", "in": "header", "required": False,
                    "description": "Sent ahead: apply this batch only once the station's events "
                                   "up to this sequence number are stored (409 out_of_order, "
                                   "nothing written, if they do not arrive in time)",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PushBatch"}}}},
                "responses": {
                    "200": _answer("Per-event results and the centre's convergence figures",
                                   {"$ref": "#/components/schemas/PushReply"}),
                    **_errors(400, 401, 403, 408, 409, 413, 415, 426, 503),
                },
            }},
            "/v1/pull": {"post": {
                "summary": "One page of the snapshot (first) or of the change feed",
                "security": secured,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PullRequest"}}}},
                "responses": {
                    "200": _answer("A page of changes", {"$ref": "#/components/schemas/PullPage"}),
                    **_errors(400, 401, 403, 408, 409, 413, 415, 503),
                },
            }},
            "/v1/status": {"get": {
                "summary": "The centre's convergence figures for the token's station",
                "security": secured,
                "responses": {
                    "200": _answer("Count, high sequence, rolling hash",
                                   {"$ref": "#/components/schemas/PushReply"}),
                    **_errors(401, 403, 503),
                },
            }},
            "/v1/whoami": {"get": {
                "summary": "The station the token belongs to",
                "security": secured,
                "responses": {
                    "200": _answer("The station", {"$ref": "#/components/schemas/Whoami"}),
                    **_errors(401, 403, 503),
                },
            }},
            "/healthz": {"get": {
                "summary": "The service and its database are up, schema at the expected version",
                "responses": {"200": _answer("Up"), "503": _answer("Down or schema behind")},
            }},
        },
    }
