#!/usr/bin/env bash
# What bin/release can know about an app's processes.

# Prints a default web command when one is certain, else nothing: a Django project (manage.py
# naming "<project>.settings", with <project>/wsgi.py) whose dependencies include gunicorn.
function release::default_web_process() {
	local build_dir="${1}"
	local site_packages="${build_dir}/.heroku/python/lib/python3/dist-packages"
	local project
	[[ -f "${build_dir}/manage.py" && -d "${site_packages}/django" && -d "${site_packages}/gunicorn" ]] || return 0
	project="$(sed -nE "s/.*DJANGO_SETTINGS_MODULE['\"][[:space:]]*,[[:space:]]*['\"]([A-Za-z_][A-Za-z0-9_]*)\.settings['\"].*/\1/p" "${build_dir}/manage.py" | head -n 1)"
	[[ -n "${project}" && -f "${build_dir}/${project}/wsgi.py" ]] || return 0
	echo "gunicorn ${project}.wsgi"
}
