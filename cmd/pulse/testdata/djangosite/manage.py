#!/usr/bin/env python3
"""The Django site of docs/django.md: python3 manage.py runserver 8000."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangosite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
