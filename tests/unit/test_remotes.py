"""DVC remotes from config text, object paths in a remote, and how remote failures read."""

from __future__ import annotations

import pytest

from brainio_dvc.exceptions import RegistryError
from brainio_dvc.store.remote_spec import (
    RemoteSpec,
    default_remote,
    describe_remote_failure,
    object_path,
)

CONFIG = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = storage\n"
TWO_REMOTES = CONFIG + "['remote \"s3\"']\n    url = s3://bucket/registry\n    endpointurl = http://127.0.0.1:8333\n"


def test_default_remote_reads_core_remote_and_its_url() -> None:
    assert default_remote(CONFIG, None, "reg") == RemoteSpec(name="storage", url="storage")


def test_config_local_overrides_the_url() -> None:
    local = "['remote \"storage\"']\n    url = /mnt/shared/storage\n"
    assert default_remote(CONFIG, local, "reg") == RemoteSpec("storage", "/mnt/shared/storage")


def test_config_local_can_choose_another_default() -> None:
    local = "[core]\n    remote = s3\n"
    found = default_remote(TWO_REMOTES, local, "reg")
    assert found == RemoteSpec("s3", "s3://bucket/registry", (("endpointurl", "http://127.0.0.1:8333"),))
    assert found.settings == {"endpointurl": "http://127.0.0.1:8333"}


def test_options_of_config_local_are_merged_over_the_committed_ones() -> None:
    local = "['remote \"s3\"']\n    access_key_id = KEY\n    endpointurl = http://other:9000\n"
    settings = default_remote(TWO_REMOTES, local, "reg", name="s3").settings
    assert settings == {"access_key_id": "KEY", "endpointurl": "http://other:9000"}


@pytest.mark.parametrize(("options", "direct"), [
    ((("endpointurl", "http://x"), ("region", "us-east-1")), True),
    ((("access_key_id", "k"), ("secret_access_key", "s"), ("acl", "private")), True),
    ((("version_aware", "true"),), False),  # files by path: DVC knows how to read those
    ((("credentialpath", "/c"),), False),  # an option read here would be ignored: DVC reads it
])
def test_s3_remotes_are_read_directly_unless_an_option_needs_dvc(options, direct) -> None:
    from brainio_dvc.store.direct_remotes import S3Remote

    assert S3Remote.reads(RemoteSpec("s3", "s3://bucket/prefix", options)) is direct


def test_an_explicit_name_wins_over_core_remote() -> None:
    assert default_remote(TWO_REMOTES, None, "reg", name="s3").url == "s3://bucket/registry"


def test_a_remote_only_in_config_local_is_found() -> None:
    local = "['remote \"private\"']\n    url = /private\n"
    assert default_remote(CONFIG, local, "reg", name="private") == RemoteSpec("private", "/private")


@pytest.mark.parametrize("committed", ["", "[core]\n    autostage = true\n", "['remote \"storage\"']\n    url = x\n"])
def test_no_default_remote_is_a_registry_error(committed: str) -> None:
    with pytest.raises(RegistryError) as caught:
        default_remote(committed, None, "/path/to/reg")
    assert caught.value.registry == "/path/to/reg"
    assert "no default DVC remote" in str(caught.value)
    assert "dvc remote add -d" in str(caught.value)


def test_an_unknown_remote_lists_the_known_ones() -> None:
    with pytest.raises(RegistryError) as caught:
        default_remote(TWO_REMOTES, None, "reg", name="backup")
    assert "remote 'backup' is not configured (known: ['s3', 'storage'])" in str(caught.value)


def test_a_remote_without_a_url_is_not_configured() -> None:
    text = "[core]\n    remote = storage\n['remote \"storage\"']\n    region = us-east-1\n"
    with pytest.raises(RegistryError, match="remote 'storage' is not configured"):
        default_remote(text, None, "reg")


@pytest.mark.parametrize(
    "url, local",
    [("storage", True), ("/abs/dir", True), ("file:///abs/dir", True), ("s3://bucket/x", False),
     ("https://h/x", False)],
)
def test_remote_spec_is_local(url: str, local: bool) -> None:
    assert RemoteSpec("r", url).is_local is local


def test_object_path_is_dvc3_layout() -> None:
    assert object_path("0f343b0931126a20f133d67c2b018a3b") == "files/md5/0f/343b0931126a20f133d67c2b018a3b"


class NoCredentialsError(Exception):
    pass


class EndpointConnectionError(Exception):
    pass


@pytest.mark.parametrize(
    "error, expected",
    [
        (PermissionError("An error occurred (AccessDenied) when calling GetObject"), "access denied"),
        (Exception("An error occurred (403) when calling the HeadObject operation: Forbidden"), "access denied"),
        (Exception("The request signature we calculated does not match the signature you provided"),
         "refused the credentials"),
        (Exception("InvalidAccessKeyId: the key does not exist"), "refused the credentials"),
        (NoCredentialsError("Unable to locate credentials"), "no credentials"),
        (EndpointConnectionError('Could not connect to the endpoint URL: "http://127.0.0.1:1/"'), "unreachable"),
        (ConnectionRefusedError("[Errno 111] Connection refused"), "unreachable"),
        (FileNotFoundError("files/md5/ab/cdef"), "missing from the remote"),
        (Exception("NoSuchKey: The specified key does not exist."), "missing from the remote"),
    ],
)
def test_describe_remote_failure_classifies(error: Exception, expected: str) -> None:
    described = describe_remote_failure(error)
    assert expected in described
    assert f"{type(error).__name__}: {error}" in described


def test_describe_remote_failure_passes_other_errors_through() -> None:
    assert describe_remote_failure(RuntimeError("odd")) == "RuntimeError: odd"


def test_a_missing_object_whose_digest_contains_403_is_still_missing() -> None:
    error = FileNotFoundError("s3://bucket/files/md5/0f/403b0931126a20f133d67c2b018a3b")
    assert "missing from the remote" in describe_remote_failure(error)


# --- DVC config text read without configobj -------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.sampled_from(["core", 'remote "storage"', 'remote "s3"', "cache", "remote", "x y", ""])
_KEYS = st.sampled_from(["remote", "url", "endpointurl", "region", "access_key_id", "a.b-c_d", "bad key", "=", ""])
_VALUES = st.text(st.sampled_from("ab/:.=,_-+ 19#'\"\\[]"), max_size=12)


@st.composite
def _config_texts(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(_NAMES)
        quote = draw(st.sampled_from(["", "'", '"']))
        lines.append(draw(st.sampled_from(["", " ", "  "])) + f"[{quote}{name}{quote}]")
        for _ in range(draw(st.integers(0, 3))):
            spacing = draw(st.sampled_from(["=", " = ", "  =", "= "]))
            lines.append(draw(st.sampled_from(["", "    "])) + draw(_KEYS) + spacing + draw(_VALUES))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment", "   # indented", "[[nested]]", "stray"])))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@given(_config_texts())
def test_dvc_config_text_reads_as_configobj_reads_it(text: str) -> None:
    """What DVC writes is read without importing configobj, and read exactly as configobj reads
    it; whatever is not read here is left to configobj."""
    from configobj import ConfigObj, ConfigObjError

    from brainio_dvc.store.remote_spec import _simple_sections

    simple = _simple_sections(text)
    if simple is None:
        return
    try:
        parsed = ConfigObj(text.splitlines(), list_values=False, interpolation=False)
    except ConfigObjError:
        pytest.fail(f"read here, refused by configobj: {text!r}")
    assert simple == {name: dict(values) for name, values in parsed.items() if isinstance(values, dict)}, text


def test_the_config_dvc_writes_is_read_without_configobj() -> None:
    from brainio_dvc.store.remote_spec import _simple_sections

    assert _simple_sections(TWO_REMOTES) == {
        "core": {"remote": "storage"}, 'remote "storage"': {"url": "storage"},
        'remote "s3"': {"url": "s3://bucket/registry", "endpointurl": "http://127.0.0.1:8333"}}
