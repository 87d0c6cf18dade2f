/* Shared by the three stub drivers: one log line per event, so the tests can assert on what
 * PyNvVideoCodec handed the "driver".
 *
 * Lines go to the file named by $PYNVVC_STUB_LOG (appended; opened per line so that lines from
 * ThreadedDecoder's C++ thread and from the Python thread interleave whole), else to stderr.
 * Format: "<api call> key=value key=value ...", parsed by conftest.py (StubLog).
 */
#ifndef PYNVVC_STUB_LOG_H
#define PYNVVC_STUB_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((format(printf, 1, 2), unused)) static void stub_log(const char *fmt, ...) {
    const char *path = getenv("PYNVVC_STUB_LOG");
    FILE *out = (path && *path) ? fopen(path, "a") : NULL;
    FILE *f = out ? out : stderr;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    if (out)
        fclose(out);
    else
        fflush(stderr);
}

/* An integer switch from the environment ($name unset or empty: fallback). */
__attribute__((unused)) static long stub_env(const char *name, long fallback) {
    const char *v = getenv(name);
    return (v && *v) ? strtol(v, NULL, 0) : fallback;
}

#endif
