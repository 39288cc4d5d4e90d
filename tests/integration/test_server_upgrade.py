"""A data directory from before the Heroku-client endpoints: migrated on start, nothing lost."""

from __future__ import annotations

import sqlite3

import services

from slugbuild.platform.server import migrations


@services.FILE_STORE
def test_a_data_dir_from_before_gains_the_new_columns_and_loses_nothing(start_api_server, make_raw_api,
                                                                        tmp_path):
    data_dir = tmp_path / "old-state"
    data_dir.mkdir()
    old = sqlite3.connect(data_dir / "api.sqlite3")
    old.executescript(migrations.known()[0].sql)  # the tables as slugbuild 0.1 made them, before migrations
    old.execute("INSERT INTO apps (id, name, stack, config, created_at, updated_at) VALUES "
                "('0190a000-0000-7000-8000-000000000001', 'veteran', 'heroku-22', '{\"A\": \"1\"}', "
                "'2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')")
    old.commit()
    old.close()
    raw_api = make_raw_api(start_api_server(data_dir=data_dir))
    app = raw_api("GET", "/apps/veteran").json()
    assert (app["region"]["name"], app["maintenance"]) == ("us", False)
    assert app["build_stack"]["name"] == "heroku-22"
    assert raw_api("GET", "/apps/veteran/config-vars").json() == {"A": "1"}
    assert raw_api("PATCH", "/apps/veteran", json={"maintenance": True}).json()["maintenance"] is True
