"""Checks the Home Assistant add-on's files against the documented keys.

The keys and types below are written down from Home Assistant's developer
documentation, "Add-on configuration" (developers.home-assistant.io/docs/
add-ons/configuration, "Required/Optional configuration options", "Options /
Schema", "Add-on extended build", "Add-on translations") and "Create an add-on
repository" (docs/add-ons/repository). The Supervisor refuses a config.yaml
with unknown keys or bad values; this is the part of its check that can run
here.

    python3 addon_config.py <repo root>     exit 0, or 1 with every problem
"""

import re
import sys
from pathlib import Path

import yaml

ARCHES = {"armhf", "armv7", "aarch64", "amd64", "i386"}
REQUIRED = {"name": str, "version": str, "slug": str, "description": str, "arch": list}
OPTIONAL = {
    "machine": list, "url": str, "startup": str, "webui": str, "boot": str,
    "ports": dict, "ports_description": dict, "host_network": bool,
    "host_ipc": bool, "host_dbus": bool, "host_pid": bool, "host_uts": bool,
    "devices": list, "homeassistant": str, "hassio_role": str,
    "hassio_api": bool, "homeassistant_api": bool, "docker_api": bool,
    "privileged": list, "full_access": bool, "apparmor": (bool, str),
    "map": list, "environment": dict, "audio": bool, "video": bool,
    "gpio": bool, "usb": bool, "uart": bool, "udev": bool,
    "devicetree": bool, "kernel_modules": bool, "stdin": bool,
    "legacy": bool, "options": dict, "schema": (dict, bool), "image": str,
    "codenotary": str, "timeout": int, "tmpfs": bool, "discovery": list,
    "services": list, "auth_api": bool, "ingress": bool,
    "ingress_port": int, "ingress_entry": str, "ingress_stream": bool,
    "panel_icon": str, "panel_title": str, "panel_admin": bool,
    "backup": str, "backup_pre": str, "backup_post": str,
    "backup_exclude": list, "advanced": bool, "stage": str, "init": bool,
    "watchdog": str, "realtime": bool, "journald": bool,
    "breaking_versions": list, "ulimits": dict,
}
CHOICES = {
    "startup": {"initialize", "system", "services", "application", "once"},
    "boot": {"auto", "manual", "manual_only"},
    "backup": {"hot", "cold"},
    "stage": {"stable", "experimental", "deprecated"},
    "hassio_role": {"default", "homeassistant", "backup", "manager", "admin"},
}
MAP_TYPES = {
    "homeassistant_config", "addon_config", "ssl", "addons", "backup",
    "share", "media", "all_addon_configs", "data",
}
BUILD_KEYS = {"build_from", "args", "labels", "codenotary"}
REPOSITORY_KEYS = {"name": True, "url": False, "maintainer": False}
# Schema element types; each may end in "?" (optional).
RANGE = r"(\((-?[0-9.]*),(-?[0-9.]*)\))?"
SCHEMA_TYPE = re.compile(
    rf"^(str{RANGE}|bool|int{RANGE}|float{RANGE}|email|url|password|port"
    r"|match\(.+\)|list\([^|()]+(\|[^|()]+)*\)|device(\(.+\))?)\??$"
)
PORT = re.compile(r"^[0-9]{1,5}/(tcp|udp)$")

problems = []


def problem(text):
    problems.append(text)


def check_schema(schema, where, depth=0):
    if depth > 2:
        problem(f"{where}: nested deeper than two levels")
        return
    if isinstance(schema, dict):
        for key, value in schema.items():
            check_schema(value, f"{where}.{key}", depth + 1 if isinstance(value, (dict, list)) else depth)
    elif isinstance(schema, list):
        if len(schema) != 1:
            problem(f"{where}: a list schema has exactly one element type")
        for item in schema:
            check_schema(item, f"{where}[]", depth + 1 if isinstance(item, (dict, list)) else depth)
    elif not (isinstance(schema, str) and SCHEMA_TYPE.match(schema)):
        problem(f"{where}: {schema!r} is not a schema type")
    elif schema.startswith("match("):
        try:
            re.compile(schema[len("match("):].rstrip("?")[:-1])
        except re.error as err:
            problem(f"{where}: bad regex: {err}")


def check_value(value, schema, where):
    """A default option value against its schema element."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return problem(f"{where}: default must be a mapping")
        for key in value:
            if key not in schema:
                problem(f"{where}.{key}: default option not in the schema")
            else:
                check_value(value[key], schema[key], f"{where}.{key}")
        for key, kind in schema.items():
            if key not in value and isinstance(kind, str) and not kind.endswith("?"):
                problem(f"{where}.{key}: required, but the defaults lack it")
    elif isinstance(schema, list):
        if not isinstance(value, list):
            return problem(f"{where}: default must be a list")
        for i, item in enumerate(value):
            check_value(item, schema[0], f"{where}[{i}]")
    elif value is None:
        pass  # null: the user must give it
    else:
        kind = schema.rstrip("?")
        if kind.startswith("list("):
            if value not in kind[5:-1].split("|"):
                problem(f"{where}: default {value!r} is not one of {kind}")
        elif kind == "bool" and not isinstance(value, bool):
            problem(f"{where}: default {value!r} is not a bool")
        elif kind.startswith(("int", "port")) and not isinstance(value, int):
            problem(f"{where}: default {value!r} is not an int")
        elif kind.startswith(("str", "url", "password", "email", "match")) and not isinstance(value, str):
            problem(f"{where}: default {value!r} is not a string")


def check_config(addon, config):
    for key, kind in REQUIRED.items():
        if key not in config:
            problem(f"config.yaml: required key {key} is missing")
    for key, value in config.items():
        kind = REQUIRED.get(key) or OPTIONAL.get(key)
        if kind is None:
            problem(f"config.yaml: {key} is not a documented add-on configuration key")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problem(f"config.yaml: {key} has the wrong type ({type(value).__name__})")
        elif key in CHOICES and value not in CHOICES[key]:
            problem(f"config.yaml: {key} = {value!r} is not one of {sorted(CHOICES[key])}")
    if not set(config.get("arch", [])) <= ARCHES:
        problem(f"config.yaml: arch {config['arch']} has unknown architectures")
    if config.get("slug") != addon.name or not re.match(r"^[a-z0-9_]+$", config.get("slug", "")):
        problem("config.yaml: slug must be URI friendly and name the add-on's folder")
    for port, host in config.get("ports", {}).items():
        if not PORT.match(port) or not (host is None or isinstance(host, int)):
            problem(f"config.yaml: ports {port}: {host} is not \"<port>/tcp|udp\": <host port or null>")
    if not set(config.get("ports_description", {})) <= set(config.get("ports", {})):
        problem("config.yaml: ports_description names a port that ports does not")
    for entry in config.get("map", []):
        kind = entry.get("type") if isinstance(entry, dict) else str(entry).split(":")[0]
        if kind not in MAP_TYPES:
            problem(f"config.yaml: map type {kind!r} is not one of {sorted(MAP_TYPES)}")
        if isinstance(entry, dict) and not set(entry) <= {"type", "read_only", "path"}:
            problem(f"config.yaml: map entry {entry} has unknown keys")
    schema = config.get("schema", {})
    check_schema(schema, "schema")
    check_value(config.get("options", {}), schema, "options")


def check_translations(addon, config):
    path = addon / "translations" / "en.yaml"
    translations = yaml.safe_load(path.read_text())
    if not set(translations) <= {"configuration", "network"}:
        problem("translations/en.yaml: only configuration and network are read")
    schema = config.get("schema", {})
    configured = translations.get("configuration", {})
    for key in schema:
        if key not in configured or "name" not in configured[key]:
            problem(f"translations/en.yaml: option {key} has no name")
    for key, entry in configured.items():
        if key not in schema:
            problem(f"translations/en.yaml: {key} is not an option")
        inner = schema.get(key)
        inner = inner[0] if isinstance(inner, list) else inner
        for field in entry.get("fields", {}):
            if not isinstance(inner, dict) or field not in inner:
                problem(f"translations/en.yaml: {key}.{field} is not a field of the option")
    ports = {p.lower() for p in config.get("ports", {})}
    for port in translations.get("network", {}):
        if port.lower() not in ports:
            problem(f"translations/en.yaml: network {port} is not a port of the add-on")


def check_build(addon, config):
    build = yaml.safe_load((addon / "build.yaml").read_text())
    if not set(build) <= BUILD_KEYS:
        problem(f"build.yaml: unknown keys {sorted(set(build) - BUILD_KEYS)}")
    if set(build.get("build_from", {})) != set(config.get("arch", [])):
        problem("build.yaml: build_from must name a base image for every arch in config.yaml")


def check_repository(root):
    path = root / "repository.yaml"
    if not path.exists():
        return problem("repository.yaml is missing at the repository root")
    repository = yaml.safe_load(path.read_text())
    for key, required in REPOSITORY_KEYS.items():
        if required and not repository.get(key):
            problem(f"repository.yaml: {key} is required")
    if not set(repository) <= set(REPOSITORY_KEYS):
        problem(f"repository.yaml: unknown keys {sorted(set(repository) - set(REPOSITORY_KEYS))}")


def main(root):
    addon = root / "addons" / "revokd"
    config = yaml.safe_load((addon / "config.yaml").read_text())
    for name in ("Dockerfile", "build.yaml", "run.sh", "DOCS.md", "README.md", "CHANGELOG.md"):
        if not (addon / name).is_file():
            problem(f"{name} is missing")
    check_config(addon, config)
    check_translations(addon, config)
    check_build(addon, config)
    check_repository(root)
    for text in problems:
        print(f"addon config: {text}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
