# Written by the Python buildpack (as Heroku's vendor/WEB_CONCURRENCY.sh): at dyno start, WEB_CONCURRENCY
# for gunicorn and uvicorn is the lower of `CPU cores * 2 + 1` and `memory MB / 256`, unless already set.
# Sourced, so it returns rather than exits. Reads cgroup v2's memory.max too (Heroku reads v1 only).
__python_wc_memory_mb() {
	local limit=""
	if [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
		limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
	elif [[ -r /sys/fs/cgroup/memory.max ]]; then
		limit=$(cat /sys/fs/cgroup/memory.max)
	fi
	[[ "${limit}" =~ ^[0-9]+$ ]] || return 1
	local mb=$((limit / 1048576))
	((mb <= 1048576)) || return 1 # cgroups v1 reports thousands of TB when there is no limit
	echo "${mb}"
}

__python_wc_say() {
	if [[ "${DYNO:-}" == web.* ]]; then
		echo "Python buildpack: $*" >&2
	fi
}

__python_wc_main() {
	local memory_mb cores per_memory per_cores
	if ! memory_mb=$(__python_wc_memory_mb); then
		__python_wc_say "Couldn't determine available memory. Skipping automatic configuration of WEB_CONCURRENCY."
		return 0
	fi
	if ! cores=$(nproc); then
		__python_wc_say "Couldn't determine number of CPU cores. Skipping automatic configuration of WEB_CONCURRENCY."
		return 0
	fi
	__python_wc_say "Detected ${memory_mb} MB available memory and ${cores} CPU cores."
	export DYNO_RAM="${memory_mb}"
	if [[ -v WEB_CONCURRENCY ]]; then
		__python_wc_say "Skipping automatic configuration of WEB_CONCURRENCY since it's already set."
		return 0
	fi
	export WEB_CONCURRENCY_SET_BY="heroku/python"
	per_memory=$((memory_mb < 256 ? 1 : memory_mb / 256))
	per_cores=$((cores * 2 + 1))
	if ((per_memory < per_cores)); then
		export WEB_CONCURRENCY="${per_memory}"
		__python_wc_say "Defaulting WEB_CONCURRENCY to ${WEB_CONCURRENCY} based on the available memory."
	else
		export WEB_CONCURRENCY="${per_cores}"
		__python_wc_say "Defaulting WEB_CONCURRENCY to ${WEB_CONCURRENCY} based on the number of CPU cores."
	fi
}

__python_wc_main
unset -f __python_wc_memory_mb __python_wc_say __python_wc_main
