"""What the tests share that is not a fixture: settings, servers, the database, keys.

Test modules import from here, never from each other or from a conftest."""
