"""Finding structures: ids, files, the local directory, the cache and downloads."""

import pytest

from nrep.core.errors import NrepError
from nrep.core.systems.sources import check_pdb_id, download, locate_structure

TINY = b"ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\nEND\n"


@pytest.mark.parametrize("bad", ["", "2JO", "2JOFF", "../x", "2J F", "2J/F", "ab-c"])
def test_malformed_ids_are_refused_before_any_path_or_url(bad):
    with pytest.raises(NrepError, match="is not a PDB id"):
        check_pdb_id(bad)


def test_ids_are_upper_cased():
    assert check_pdb_id("2jof") == "2JOF"


def test_a_file_is_used_as_is(tmp_path):
    path = tmp_path / "mine.pdb"
    path.write_bytes(TINY)
    source = locate_structure(str(path))
    assert source.origin == "file" and source.path == path.resolve()
    with pytest.raises(NrepError, match="no such structure file"):
        locate_structure(str(tmp_path / "missing.pdb"))


def test_local_directory_then_cache_then_download(tmp_path, server):
    served, base_url = server
    local, cache = tmp_path / "local", tmp_path / "cache"
    local.mkdir()
    (local / "1abc.pdb").write_bytes(TINY)
    assert locate_structure("1ABC", local, cache, base_url).origin == "local"

    (served / "2XYZ.pdb").write_bytes(TINY)
    first = locate_structure("2xyz", local, cache, base_url)
    assert first.origin == "download" and first.path == cache / "2XYZ.pdb"
    assert first.path.read_bytes() == TINY
    (served / "2XYZ.pdb").unlink()  # the second time it must come from the cache
    assert locate_structure("2XYZ", local, cache, base_url).origin == "cache"


def test_mmcif_fallback(tmp_path, server):
    served, base_url = server
    (served / "3CIF.cif").write_bytes(b"data_3CIF\nloop_\n_atom_site.group_PDB\nATOM\n")
    assert download("3CIF", tmp_path, base_url) == tmp_path / "3CIF.cif"


def test_environment_variable_names_the_local_directory(tmp_path, monkeypatch):
    (tmp_path / "4ENV.pdb").write_bytes(TINY)
    monkeypatch.setenv("NREP_PDB_DIR", str(tmp_path))
    assert locate_structure("4env", cache_dir=tmp_path / "cache").origin == "local"


def test_unknown_id(tmp_path, server):
    _, base_url = server
    cache = tmp_path / "cache"
    with pytest.raises(NrepError, match="unknown PDB id 5NOP.*404"):
        locate_structure("5NOP", None, cache, base_url)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written in the cache


def test_http_errors_and_no_network(tmp_path, server):
    _, base_url = server
    with pytest.raises(NrepError, match="HTTP 500"):
        locate_structure("9ERR", None, tmp_path, base_url)
    with pytest.raises(NrepError, match="no local copy; put 6OFF.pdb in"):
        locate_structure("6OFF", None, tmp_path, "http://127.0.0.1:9", timeout_s=2)


def test_only_https_downloads(tmp_path):
    with pytest.raises(NrepError, match="must use https"):
        download("1ABC", tmp_path, "http://example.org/download")


def test_a_payload_that_is_not_a_structure_is_not_cached(tmp_path, server):
    served, base_url = server
    (served / "7BAD.pdb").write_bytes(b"<html>try again later</html>")
    (served / "8NIL.pdb").write_bytes(b"")
    cache = tmp_path / "cache"
    with pytest.raises(NrepError, match="not a .pdb structure; nothing was cached"):
        download("7BAD", cache, base_url)
    with pytest.raises(NrepError, match="an empty file"):
        download("8NIL", cache, base_url)
    assert not cache.exists() or not any(cache.iterdir())
