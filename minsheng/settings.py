"""Where the project's files live (labels/, data/, models/ beside the package)."""
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
