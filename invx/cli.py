"""The ``invx`` console script: Flask's CLI for the invx app (``invx --help``)."""
from flask.cli import FlaskGroup


def _create_app():
    from . import create_app
    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=True,
                  help="invx: InvoiceXpress-compatible sequences, registered with AT.")


if __name__ == "__main__":
    main()
