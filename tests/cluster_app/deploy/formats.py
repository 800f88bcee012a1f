"""Readers of the service files as launchd and systemd read them, for the tests: a property
list checked as `plutil -lint` checks it (as far as it can be without macOS) and for the keys
and types launchd needs; a systemd unit parsed by its sections, and its ExecStart split as
systemd splits it."""

from __future__ import annotations

import configparser
import plistlib
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

XML_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC '
            b'"-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n')
VALUES = {"string", "integer", "real", "true", "false", "date", "data", "array", "dict"}
# launchd.plist(5): the keys these agents use, and the type launchd expects of each.
LAUNCHD_TYPES: dict[str, type | tuple[type, ...]] = {
    "Label": str, "ProgramArguments": list, "WorkingDirectory": str,
    "EnvironmentVariables": dict, "RunAtLoad": bool, "KeepAlive": (bool, dict),
    "ThrottleInterval": int, "StandardOutPath": str, "StandardErrorPath": str,
}
KEEP_ALIVE_KEYS = {"SuccessfulExit", "Crashed", "NetworkState", "PathState", "OtherJobEnabled",
                   "AfterInitialDemand"}


def _lint_value(element: ET.Element, where: str) -> None:
    """Apple's plist DTD: each value one of its elements; a dict alternates key and value with
    unique keys; true and false are empty; numbers parse."""
    tag = element.tag
    assert tag in VALUES, f"{where}: <{tag}> is not a property list value"
    children = list(element)
    if tag == "dict":
        keys = children[0::2]
        assert len(children) % 2 == 0, f"{where}: a key without a value"
        assert all(key.tag == "key" and key.text for key in keys), f"{where}: expected <key>"
        names = [key.text for key in keys]
        assert len(names) == len(set(names)), f"{where}: a key twice"
        for key, value in zip(keys, children[1::2], strict=True):
            _lint_value(value, f"{where}.{key.text}")
    elif tag == "array":
        for index, child in enumerate(children):
            _lint_value(child, f"{where}[{index}]")
    else:
        assert not children, f"{where}: <{tag}> holds elements"
        if tag in ("true", "false"):
            assert not (element.text or "").strip(), f"{where}: <{tag}/> must be empty"
        elif tag == "integer":
            assert re.fullmatch(r"[+-]?\d+", element.text or ""), f"{where}: not an integer"
        elif tag == "real":
            float(element.text or "")


def lint_plist(data: bytes) -> dict[str, Any]:
    """The property list, after the checks `plutil -lint` makes of an XML plist."""
    assert data.startswith(XML_HEAD), "not an XML property list with Apple's DOCTYPE"
    root = ET.fromstring(data)
    assert (root.tag, root.attrib) == ("plist", {"version": "1.0"})
    assert len(root) == 1, "a plist holds exactly one value"
    _lint_value(root[0], "plist")
    loaded = plistlib.loads(data, fmt=plistlib.FMT_XML)
    assert isinstance(loaded, dict)
    return loaded


def check_launchd_job(job: dict[str, Any]) -> None:
    """What launchd needs of an agent's keys and their types."""
    assert set(job) <= set(LAUNCHD_TYPES), f"unknown keys {set(job) - set(LAUNCHD_TYPES)}"
    for key, expected in LAUNCHD_TYPES.items():
        if key in job:
            assert isinstance(job[key], expected), f"{key} is {type(job[key]).__name__}"
    assert re.fullmatch(r"[A-Za-z0-9.-]+", job["Label"])
    arguments = job["ProgramArguments"]
    assert arguments and all(isinstance(a, str) for a in arguments)
    assert Path(arguments[0]).is_absolute(), "launchd does not search PATH for ProgramArguments"
    assert all(isinstance(k, str) and isinstance(v, str)
               for k, v in job["EnvironmentVariables"].items())
    if isinstance(job.get("KeepAlive"), dict):
        assert set(job["KeepAlive"]) <= KEEP_ALIVE_KEYS
        assert all(isinstance(v, bool) for v in job["KeepAlive"].values())
    for key in ("WorkingDirectory", "StandardOutPath", "StandardErrorPath"):
        assert Path(job[key]).is_absolute(), f"{key} must be an absolute path"


def parse_unit(text: str) -> configparser.ConfigParser:
    """A systemd unit by its sections (keys keep their case; no key twice)."""
    unit = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(text)
    return unit


def _expand(arg: str) -> str:
    arg = re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else f"<specifier %{m.group(1)}>",
                 arg)
    return re.sub(r"\$(\$|\{?\w+\}?)",
                  lambda m: "$" if m.group(1) == "$" else f"<variable {m.group(1)}>", arg)


def exec_argv(line: str) -> list[str]:
    """ExecStart split as systemd does (quotes and backslashes), with specifiers (`%h`) and
    variables (`$HOME`) standing out; `%%` and `$$` are the characters themselves."""
    return [_expand(arg) for arg in shlex.split(line)]
