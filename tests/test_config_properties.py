"""Property-based: any config input either parses or fails with ConfigError naming a key."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_paths import leaves

from components import config
from components.config import ConfigError, parse

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["main", "kommander", "https://h.example.com/x", "1.2.3", "In", "acme", "10m", "100Mi"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=10),
                st.sampled_from(["name", "url", "ref", "clusters", "sources", "workspace", "kubeconfig", "branch"]),
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)
KEY_MESSAGE = re.compile(r"^kommander:\S.*?: ")


def _check(raw: dict[str, Any]) -> None:
    try:
        parse(raw, secret_keys=leaves(raw))
    except ConfigError as err:
        message = str(err)
        assert message, "empty error"
        for line in message.splitlines():
            assert KEY_MESSAGE.match(line), f"error line does not name a key: {line!r}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(config.KEYS), json_values, max_size=5))
def test_any_value_under_known_keys_parses_or_names_a_key(raw: dict[str, Any]) -> None:
    _check(raw)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=3))
def test_any_key_parses_or_names_a_key(raw: dict[str, Any]) -> None:
    _check(raw)


project = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z][a-z0-9-]{0,70}", fullmatch=True),
        "workspace": st.sampled_from(["default", "w1", "nope"]),
    },
    optional={
        "sources": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.from_regex(r"[a-zA-Z0-9_-]{1,70}", fullmatch=True),
                    "url": st.sampled_from(
                        ["https://g.example.com/a.git", "ssh://git@g.example.com/a.git", "not a url"]
                    ),
                },
                optional={
                    "ref": st.dictionaries(st.sampled_from(["branch", "tag", "semver", "commit"]), st.text(max_size=8))
                },
            ),
            max_size=3,
        ),
        "clusterSelector": st.fixed_dictionaries(
            {},
            optional={
                "matchLabels": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
                "matchExpressions": st.lists(
                    st.fixed_dictionaries(
                        {
                            "key": st.text(max_size=8),
                            "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Bogus"]),
                        },
                        optional={"values": st.lists(st.text(max_size=5), max_size=2)},
                    ),
                    max_size=2,
                ),
            },
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(project, max_size=4))
def test_structured_projects_parse_or_name_a_key(projects: list[dict[str, Any]]) -> None:
    _check({"workspaces": [{"name": "w1"}], "projects": projects})
