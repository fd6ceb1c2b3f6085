"""``make profile``: where one entry request spends its time (pyinstrument).

Creates a throwaway PostgreSQL cluster, serves the app in-process (no HTTP server, no load
generator: only invx's own work), writes entries one after another into one series, and
prints the profile of those requests and the mean time of one.
"""
import argparse
import os
import secrets
import time
import uuid

from pyinstrument import Profiler

from .cluster import Cluster


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with Cluster("profile") as cluster:
        os.environ.update(INVX_SECRET_KEY=secrets.token_urlsafe(32), INVX_LOG_LEVEL="WARNING")
        import flask_migrate

        from invx import create_app
        from invx.accounts import create_account
        app = create_app({"SQLALCHEMY_DATABASE_URI": cluster.url.replace(
            "postgresql://", "postgresql+psycopg2://")})
        with app.app_context():
            flask_migrate.upgrade()
            _, key = create_account("profile", "ES", "B12345678", None, "none")
        client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
        series = str(uuid.uuid4())
        client.put(f"/sequence/v1/series/{series}", json={"name": "p", "prefix": "INV-"},
                   headers=headers)

        def entry():
            response = client.put(f"/sequence/v1/series/{series}/entries/{uuid.uuid4()}",
                                  json={"meta": {"k": "v"}}, headers=headers)
            assert response.status_code == 200, response.data

        for _ in range(20):  # warm up: the signing key, caches, connections
            entry()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        for _ in range(args.requests):
            entry()
        profiler.stop()
        elapsed = time.perf_counter() - started
        print(profiler.output_text(unicode=False, color=False))
        print(f"{args.requests} entry requests, one at a time: "
              f"{elapsed / args.requests * 1000:.2f} ms each")
        with app.app_context():
            from invx.extensions import db
            db.engine.dispose()


if __name__ == "__main__":
    main()
