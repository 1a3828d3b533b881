"""Where the test data lives, for tests at any depth of the tree."""

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
FOCUS_SAMPLE = DATA_DIR / "focus-1.0-sample" / "focus_sample.csv"
MANIFEST_SCHEMA = DATA_DIR / "slack-app-manifest" / "manifest.schema.1.0.0.json"
