"""The ``invx`` command as the tests run it: the at adapter set up through it, numbers
issued behind its back."""
from sqlalchemy import update

from invx.extensions import db
from invx.models import Series

from .fake_at import PASSWORD


def set_at(invx, key_file, *extra, endpoint=None, username="123456789/1", password=PASSWORD,
           fake=None):
    return invx("accounts", "set-tax-authority", "acme", "--adapter", "at",
                "--endpoint", endpoint or fake.url, "--username", username,
                "--public-key", str(key_file), *extra, input=password + "\n")


def issue_numbers(app, **last_numbers):
    with app.app_context():
        for doc_type, number in last_numbers.items():
            db.session.execute(update(Series).where(Series.doc_type == doc_type)
                               .values(last_number=number))
        db.session.commit()
