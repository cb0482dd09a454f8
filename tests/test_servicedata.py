"""botocore's data files as the publisher reads them: cut to its calls, kept between processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape
from botocore.regions import EndpointResolver

from sitegen.config import PublishConfig
from sitegen.site import servicedata
from sitegen.site.publish import clients, session
from sitegen.site.servicedata import SERVICES, KeptFiles, cut, kept_dir

BOTOCORE = Loader()  # botocore's own loader: its files whole, as every other program reads them


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user cache of this test's own, and publisher sessions made fresh in it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session.cache_clear()
    yield tmp_path / "cache" / "sitegen" / "botocore"
    session.cache_clear()


def _reached(shape: Shape | None, seen: set[str]) -> set[str]:
    """Every shape name under SHAPE, walked through botocore's own model objects."""
    if shape is None or shape.name in seen:
        return seen
    seen.add(shape.name)
    for child in (
        *getattr(shape, "members", {}).values(),
        getattr(shape, "member", None),
        getattr(shape, "key", None),
        getattr(shape, "value", None),
    ):
        _reached(child, seen)
    return seen


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_cut_model_holds_each_call_the_publisher_makes_whole(service: str) -> None:
    whole = BOTOCORE.load_service_model(service, "service-2")
    model = ServiceModel(cut(f"/data/{service}/2000-01-01/service-2", whole), service)
    assert sorted(model.operation_names) == sorted(SERVICES[service])
    full = ServiceModel(whole, service)
    for name in SERVICES[service]:
        mine, theirs = model.operation_model(name), full.operation_model(name)
        for part in ("input_shape", "output_shape"):
            names = _reached(getattr(theirs, part), set())
            assert names == _reached(getattr(mine, part), set()), (name, part)
            # The same shapes, member for member: what a request is built and parsed from.
            for shape in names:
                assert model.shape_for(shape).metadata == full.shape_for(shape).metadata
        assert [e.name for e in mine.error_shapes] == [e.name for e in theirs.error_shapes]
    assert len(model.shape_names) < len(full.shape_names) / 3  # cut, not copied


def test_the_cut_endpoints_resolve_the_two_services_as_the_whole_file_does() -> None:
    whole = BOTOCORE.load_data("endpoints")
    mine, theirs = EndpointResolver(cut("/data/endpoints", whole)), EndpointResolver(whole)
    for service in SERVICES:
        for region in ("us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1", "aws-global"):
            assert mine.construct_endpoint(service, region) == theirs.construct_endpoint(
                service, region
            ), (service, region)
    assert set(mine.get_available_endpoints("s3")) == set(theirs.get_available_endpoints("s3"))
    assert mine.get_available_endpoints("ec2") == []  # other services are cut away


def test_a_second_publisher_loads_the_kept_models_and_parses_no_json(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, cloudfront = clients(PublishConfig(bucket="b"))
    cloudfront()
    kept = sorted(p.name.rpartition("@")[0] for p in cache.iterdir())
    assert {"s3-2006-03-01-service-2", "botocore-data-endpoints"} <= set(kept)
    assert any(name.startswith("cloudfront-") for name in kept)
    session.cache_clear()  # as a new process: botocore keeps what it loaded per session

    def parsed(text: str) -> object:
        raise AssertionError("parsed botocore's JSON again")

    monkeypatch.setattr(servicedata.json, "loads", parsed)
    s3, cloudfront = clients(PublishConfig(bucket="b"))
    assert sorted(s3.meta.service_model.operation_names) == sorted(SERVICES["s3"])
    assert cloudfront().meta.service_model.operation_names == ["CreateInvalidation"]
    assert s3.meta.region_name == "us-east-1"


def _endpoints(tmp_path: Path, services: list[str]) -> Path:
    """Write a botocore endpoints file naming SERVICES; return its path without ".json"."""
    source = tmp_path / "data" / "endpoints"
    source.parent.mkdir(exist_ok=True)
    partition = {"partition": "aws", "services": {name: {} for name in services}}
    source.with_suffix(".json").write_text(json.dumps({"partitions": [partition]}))
    return source


def test_a_kept_file_is_made_again_when_its_source_changes(tmp_path: Path) -> None:
    source = _endpoints(tmp_path, ["s3", "ec2"])
    files = KeptFiles(tmp_path / "kept")
    first = files.load_file(str(source))
    assert first["partitions"][0]["services"] == {"s3": {}}
    # An edited model (a newer botocore, an override under AWS_DATA_PATH): a new kept file.
    _endpoints(tmp_path, ["s3", "ec2", "cloudfront"])
    again = KeptFiles(tmp_path / "kept").load_file(str(source))
    assert again["partitions"][0]["services"] == {"s3": {}, "cloudfront": {}}
    assert len(list((tmp_path / "kept").iterdir())) == 1  # the older one went


def test_a_file_kept_by_another_python_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # marshal's format may change between Python versions; two virtualenvs share the cache.
    source = _endpoints(tmp_path, ["s3"])
    KeptFiles(tmp_path / "kept").load_file(str(source))
    (made,) = (tmp_path / "kept").iterdir()
    monkeypatch.setattr(sys.implementation, "cache_tag", "cpython-399")
    KeptFiles(tmp_path / "kept").load_file(str(source))
    (again,) = (tmp_path / "kept").iterdir()
    assert again.name != made.name


def test_a_damaged_kept_file_is_made_again(tmp_path: Path) -> None:
    source = _endpoints(tmp_path, ["s3"])
    KeptFiles(tmp_path / "kept").load_file(str(source))
    (kept,) = (tmp_path / "kept").iterdir()
    kept.write_bytes(b"\xe3 not marshal")
    assert KeptFiles(tmp_path / "kept").load_file(str(source))["partitions"][0]["services"] == {
        "s3": {}
    }
    assert kept.read_bytes() != b"\xe3 not marshal"  # written over


def test_without_a_writable_cache_botocore_files_are_read_each_time(tmp_path: Path) -> None:
    source = _endpoints(tmp_path, ["s3"])
    (tmp_path / "home").write_text("a file where the cache directory would be")
    for kept in (tmp_path / "home" / "botocore", None):
        data = KeptFiles(kept).load_file(str(source))
        assert data["partitions"][0]["services"] == {"s3": {}}
    assert KeptFiles(None).load_file(str(tmp_path / "data" / "absent")) is None


def test_the_cache_is_the_users_xdg_one_and_none_without_a_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kept_dir() == tmp_path / "sitegen" / "botocore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert kept_dir() == tmp_path / "me" / ".cache" / "sitegen" / "botocore"

    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", homeless)
    assert kept_dir() is None
