"""Open311 GeoReport v2 documents as the spec writes them, in JSON or XML (``xml.etree``):
discovery, services, service definitions, requests, tokens and the error list.

XML lists take the spec's element names (``<services><service>``,
``<service_requests><request>``, ``<errors><error>`` …); booleans are ``true``/``false``,
missing values empty elements (``null`` in JSON), times W3C with their offset.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chengyun.domain.taxonomy import Subclass
from chengyun.domain.working_time import as_china_time
from chengyun.services.open311 import Attribute, ServiceRequest, Submitted, Words

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: When this endpoint's description last changed (discovery ``changeset``).
CHANGESET = "2026-11-27T12:00:00+08:00"
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
Document = tuple[str, Any]
"""A root element name and its content (a dict or a list of dicts)."""


def w3c(moment: datetime) -> str:
    """``2020-06-24T09:30:00+08:00``: China time, whole seconds."""
    return as_china_time(moment).replace(microsecond=0).isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


#: Characters XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return w3c(value)
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, list | tuple):
        tag = ITEM_TAGS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, tag), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    else:
        element.text = _text(value)


def to_xml(document: Document) -> bytes:
    root_tag, content = document
    root = ET.Element(root_tag)
    _fill(root, content)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def to_json(document: Document) -> bytes:
    return json.dumps(_plain(document[1]), ensure_ascii=False).encode("utf-8")


def render(document: Document, fmt: str) -> bytes:
    return to_xml(document) if fmt == "xml" else to_json(document)


def language(accept_language: str | None) -> str:
    """``en`` when the client prefers English over Chinese, else ``zh`` (the default)."""
    best, best_q = "zh", 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for code in ("zh", "en"):
            if (tag == code or tag.startswith(code + "-")) and q > best_q:
                best, best_q = code, q
    return best


# --- documents -------------------------------------------------------------------------------


def discovery(url: str, contact: str, key_service: str) -> Document:
    return (
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": contact,
            "key_service": key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": url,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


def _service(rule: Subclass, metadata: bool, lang: str) -> dict[str, Any]:
    if lang == "en":
        name, description = rule.name_en, f"{rule.name_en} ({rule.class_name_en}). {rule.filing}"
        keywords = [rule.name_zh, rule.class_name_zh, rule.sector.zh]
        group = rule.class_name_en
    else:
        name, description = rule.name_zh, rule.filing
        keywords = [rule.name_en, rule.class_name_en, rule.sector.en]
        group = f"{rule.class_name_zh} {rule.class_name_en}"
    return {
        "service_code": rule.code,
        "service_name": name,
        "description": description,
        "metadata": metadata,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": group,
    }


def services(rules: Sequence[tuple[Subclass, bool]], lang: str) -> Document:
    """The service list; each rule with whether it has attributes (``metadata``)."""
    return ("services", [_service(rule, metadata, lang) for rule, metadata in rules])


def _words(words: Words | None, lang: str) -> str | None:
    return words.pick(lang) if words is not None else None


def _attribute(attribute: Attribute, lang: str) -> dict[str, Any]:
    return {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": _words(attribute.datatype_description, lang),
        "order": attribute.order,
        "description": attribute.description.pick(lang),
        "values": [{"key": v.key, "name": v.name.pick(lang)} for v in attribute.values],
    }


def service_definition(rule: Subclass, attributes: Sequence[Attribute], lang: str) -> Document:
    return (
        "service_definition",
        {"service_code": rule.code, "attributes": [_attribute(a, lang) for a in attributes]},
    )


def created(submitted: Submitted, lang: str) -> Document:
    return (
        "service_requests",
        [
            {
                "service_request_id": submitted.service_request_id,
                "token": submitted.token,
                "service_notice": _words(submitted.service_notice, lang),
                "account_id": None,
            }
        ],
    )


def _request(request: ServiceRequest, lang: str) -> dict[str, Any]:
    return {
        "service_request_id": request.service_request_id,
        "status": request.status,
        "status_notes": request.status_notes.pick(lang),
        "service_name": request.service_name.pick(lang),
        "service_code": request.service_code,
        "description": request.description or None,
        "agency_responsible": request.agency_responsible.pick(lang),
        "service_notice": None,
        "requested_datetime": request.requested_datetime,
        "updated_datetime": request.updated_datetime,
        "expected_datetime": request.expected_datetime,
        "address": request.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": request.lat,
        "long": request.long,
        "media_url": request.media_url,
    }


def service_requests(requests: Sequence[ServiceRequest], lang: str) -> Document:
    return ("service_requests", [_request(r, lang) for r in requests])


def token(value: str, service_request_id: str | None) -> Document:
    return ("service_requests", [{"service_request_id": service_request_id, "token": value}])


def errors(code: int, description: str) -> Document:
    """The spec's error list: the HTTP status as ``code``, what went wrong as
    ``description``."""
    return ("errors", [{"code": code, "description": description}])
