#!/usr/bin/env bash
# What bin/release can know about an app's processes, and bin/compile's warning when an app
# declares none.

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

# Tells the user the app declares no web process, and how to add one.
function release::warn_no_procfile() {
	local build_dir="${1}"
	local default_web
	default_web="$(release::default_web_process "${build_dir}")"
	if [[ -n "${default_web}" ]]; then
		output::warning <<-EOF
			Warning: No Procfile found; using a default web process.

			Your app has no 'Procfile', so it will run the default for a
			Django app with gunicorn installed:

			   web: ${default_web}

			Declare it yourself to be sure of what runs:

			   $ echo "web: ${default_web}" > Procfile
			   $ git add Procfile && git commit -m "Add Procfile"
		EOF
		return 0
	fi
	output::warning <<-EOF
		Warning: Your app has no web process.

		There is no 'Procfile' in the root directory of your app, so
		the release won't start anything to serve HTTP requests.

		Add a Procfile declaring the command that starts your web
		server; it must listen on the port in \$PORT. For example:

		   web: gunicorn myapp.wsgi        (Django, with gunicorn in requirements.txt)
		   web: gunicorn app:app           (Flask)
		   web: python app.py              (your own server)

		   $ git add Procfile && git commit -m "Add Procfile"
	EOF
}
