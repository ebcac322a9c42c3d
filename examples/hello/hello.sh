#!/bin/sh
# Prints the greeting the image's environment sets.
echo "${GREETING:-hello}, $(uname -s) $(hostname)!"
