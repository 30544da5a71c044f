# Sourced by scripts/test: run each check to its end even when an earlier one failed, then report.
#   step NAME COMMAND...   runs COMMAND; a failure is recorded, not fatal
#   finish                 lists the failed steps and exits 1 if there were any, else 0
failed_steps=()

step() {
    local name=$1
    shift
    echo "== $name" >&2
    if ! "$@"; then
        failed_steps+=("$name")
        echo "== $name FAILED" >&2
    fi
}

finish() {
    if [ ${#failed_steps[@]} -gt 0 ]; then
        echo "FAILED: ${failed_steps[*]}" >&2
        exit 1
    fi
    echo "all steps passed" >&2
}
