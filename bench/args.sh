# bench/args.sh, sourced by the benchmarks: bench_seconds USAGE [ARG] sets SECS from the one optional argument
# (seconds per run, default 5), or prints USAGE and exits: 0 for --help, 2 for anything else.
bench_seconds() {
    case "${2:-5}" in
        -h | --help) echo "$1"; exit 0 ;;
        *[!0-9]* | 0) echo "$1" >&2; exit 2 ;;
    esac
    SECS=${2:-5}
}
