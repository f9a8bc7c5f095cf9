/*  irh_log.h: one logging facility for every irohds binary.

    Lines look like "2026-11-21 16:40:02.123 store[1234] W message".
    Foreground processes log to stderr; the detached daemon and its actors
    log to <home>/irohds.log (opened O_APPEND, so actors share it).
*/
#ifndef IRH_LOG_H_INCLUDED
#define IRH_LOG_H_INCLUDED
#include <stdbool.h>
#include <stdarg.h>

typedef enum { IRH_LOG_DEBUG = 0, IRH_LOG_INFO, IRH_LOG_WARN, IRH_LOG_ERROR } irh_log_level_t;

//  Set the process name and minimum level. path NULL = stderr.
//  Returns 0, or -1 if path cannot be opened (logging falls back to stderr).
int irh_log_init (const char *name, irh_log_level_t level, const char *path);
void irh_log_set_level (irh_log_level_t level);
void irh_log (irh_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void irh_log_v (irh_log_level_t level, const char *format, va_list args);
//  For functions that report errors through a `char **err` argument:
//  replaces *err (when err is not NULL) with the formatted message, which
//  the caller frees. Returns -1, so callers can `return irh_error_set (...)`.
int irh_error_set (char **err, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
#define irh_debug(...) irh_log (IRH_LOG_DEBUG, __VA_ARGS__)
#define irh_info(...)  irh_log (IRH_LOG_INFO, __VA_ARGS__)
#define irh_warn(...)  irh_log (IRH_LOG_WARN, __VA_ARGS__)
#define irh_error(...) irh_log (IRH_LOG_ERROR, __VA_ARGS__)
void irh_log_close (void);
void irh_log_test (bool verbose);

#endif
