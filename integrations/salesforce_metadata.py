"""The `ICP_*__c` fields and a permission set as Metadata API files, for orgs that deploy.

`icpbot crm setup salesforce` creates the fields through the Tooling API;
an org whose changes go through a deployment (or where the integration
user may not create fields) deploys `config/salesforce` instead:

    sf project deploy start --metadata-dir config/salesforce --target-org <org>

Either way, new fields are visible only to whom a permission set grants
them: the `ICP_Fields` permission set here grants read and edit. The files
are generated from the same definitions `setup` uses; a test keeps the
shipped copy equal to them.

    python -m integrations.salesforce_metadata config/salesforce
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from integrations.base import ScoreNames
from integrations.records import RecordKind
from integrations.salesforce import OBJECTS, SCORE_FIELDS, field_metadata

API_VERSION = "62.0"
PERMISSION_SET = "ICP_Fields"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NS = 'xmlns="http://soap.sforce.com/2006/04/metadata"'


def render(names: ScoreNames = SCORE_FIELDS) -> dict[str, str]:
    """Relative path → file text: package.xml, an .object per sObject, the permission set."""
    files = {f"objects/{obj.name}.object": _object(obj.kind, names) for obj in OBJECTS.values()}
    files[f"permissionsets/{PERMISSION_SET}.permissionset"] = _permission_set(names)
    files["package.xml"] = _package(names)
    return files


def _object(kind: RecordKind, names: ScoreNames) -> str:
    fields = "".join(_field(api, field_metadata(name)) for name, api in names.names(kind).items())
    return f"{_HEAD}<CustomObject {_NS}>\n{fields}</CustomObject>\n"


def _field(api: str, metadata: dict[str, Any]) -> str:
    body = f"        <fullName>{escape(api)}</fullName>\n" + _elements(metadata, 2)
    return f"    <fields>\n{body}    </fields>\n"


def _elements(values: dict[str, Any], depth: int) -> str:
    """Metadata as XML elements; lists repeat their element.

    The Metadata API wants elements in its schema's order, which is `fullName`
    first and then alphabetical.
    """
    pad = "    " * depth
    out = []
    for key, value in sorted(values.items(), key=lambda kv: (kv[0] != "fullName", kv[0])):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                out.append(f"{pad}<{key}>\n{_elements(item, depth + 1)}{pad}</{key}>\n")
            else:
                text = str(item).lower() if isinstance(item, bool) else escape(str(item))
                out.append(f"{pad}<{key}>{text}</{key}>\n")
    return "".join(out)


def _all_fields(names: ScoreNames) -> list[str]:
    return [
        f"{obj.name}.{api}" for obj in OBJECTS.values() for api in names.names(obj.kind).values()
    ]


def _permission_set(names: ScoreNames) -> str:
    grants = "".join(
        "    <fieldPermissions>\n"
        "        <editable>true</editable>\n"
        f"        <field>{field}</field>\n"
        "        <readable>true</readable>\n"
        "    </fieldPermissions>\n"
        for field in _all_fields(names)
    )
    return (
        f"{_HEAD}<PermissionSet {_NS}>\n"
        "    <description>Read and edit icpbot's ICP fields.</description>\n"
        f"{grants}"
        "    <label>ICP fields</label>\n"
        "</PermissionSet>\n"
    )


def _package(names: ScoreNames) -> str:
    members = "".join(f"        <members>{field}</members>\n" for field in _all_fields(names))
    return (
        f"{_HEAD}<Package {_NS}>\n"
        f"    <types>\n{members}        <name>CustomField</name>\n    </types>\n"
        f"    <types>\n        <members>{PERMISSION_SET}</members>\n"
        "        <name>PermissionSet</name>\n    </types>\n"
        f"    <version>{API_VERSION}</version>\n"
        "</Package>\n"
    )


def write(directory: Path) -> list[Path]:
    written = []
    for relative, text in render().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "config/salesforce")):
        sys.stdout.write(f"{path}\n")
