import pytest
from django.core.exceptions import ImproperlyConfigured

from saga_konbini.env import env_bool, env_int, env_secret


def test_env_bool_rejects_garbage(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "on")
    assert env_bool("X_FLAG", False) is True


def test_env_int_checks_type_and_minimum(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_NUM", 1, minimum=1)
    monkeypatch.setenv("X_NUM", "7")
    assert env_int("X_NUM", 1, minimum=1) == 7


def test_secret_from_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret_file))
    assert env_secret("X_SECRET", dev_file=None) == "from-file"


def test_missing_secret_in_production_is_an_error(monkeypatch):
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.delenv("X_SECRET_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured):
        env_secret("X_SECRET", dev_file=None)


def test_development_secret_is_generated_once_and_private(monkeypatch, tmp_path):
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.delenv("X_SECRET_FILE", raising=False)
    path = tmp_path / "secrets" / "x"
    first = env_secret("X_SECRET", dev_file=path)
    assert len(first) >= 40
    assert env_secret("X_SECRET", dev_file=path) == first
    assert path.stat().st_mode & 0o077 == 0
