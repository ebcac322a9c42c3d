#!/bin/sh
# Runs the command given; a place for setup a real service needs.
exec "$@"
