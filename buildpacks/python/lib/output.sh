#!/usr/bin/env bash
# Build output in the Heroku style: step headers on stdout, sub-output indented by seven spaces,
# and notice / warning / error boxes on stderr. Box text comes from stdin (a heredoc), so every
# message reads as what the user sees.

ANSI_RED=$'\e[1;31m'
ANSI_YELLOW=$'\e[1;33m'
ANSI_BLUE=$'\e[1;34m'
ANSI_RESET=$'\e[0m'

# Prints a step header: "-----> <text>".
function output::step() {
	echo "-----> ${1}"
}

# Prints a line of sub-output, indented under the last step.
function output::info() {
	echo "       ${1}"
}

# Indents everything read from stdin, line by line as it arrives.
function output::indent() {
	sed --unbuffered 's/^/       /'
}

# Prints stdin as a box of lines prefixed with " !     " in the given colour, on stderr.
function output::_box() {
	local colour="${1}"
	local line
	{
		echo
		while IFS= read -r line; do
			printf '%s !     %s%s\n' "${colour}" "${line}" "${ANSI_RESET}"
		done
		echo
	} >&2
}

function output::notice() {
	output::_box "${ANSI_BLUE}"
}

function output::warning() {
	output::_box "${ANSI_YELLOW}"
}

# Prints the error box; the caller exits (see utils::fail for print-and-exit).
function output::error() {
	output::_box "${ANSI_RED}"
}
