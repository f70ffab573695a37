/*
 * options.c: strict parsing of option values (never atoi): the whole
 * argument must be a number in range, with an optional unit for durations.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int
cli_parse_int(const char *opt, const char *arg, long min, long max, long *out, shunt_error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
		shunt_error_set(err, SHUNT_E_USAGE, "invalid value \"%s\" for %s: expected an integer from %ld to %ld",
						arg, opt, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_parse_double(const char *opt, const char *arg, double min, double max, double *out,
				 shunt_error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || isnan(v) || v < min || v > max) {
		shunt_error_set(err, SHUNT_E_USAGE, "invalid value \"%s\" for %s: expected a number from %g to %g",
						arg, opt, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_parse_duration_ms(const char *opt, const char *arg, int64_t *out, shunt_error *err)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1 } };
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno == 0 && end != arg && v >= 0 && !isnan(v) && !isinf(v)) {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcmp(end, units[i].unit) == 0) {
				double ms = v * units[i].ms;

				if (ms <= 9.0e15) {
					*out = (int64_t) ms;
					return 0;
				}
			}
		}
	}
	shunt_error_set(err, SHUNT_E_USAGE, "invalid duration \"%s\" for %s", arg, opt);
	shunt_error_hint(err, "Use a number with a unit: 500ms, 2s, 5min, 1h (no unit: milliseconds).");
	return -1;
}

int
cli_parse_size(const char *opt, const char *arg, int64_t *out, shunt_error *err)
{
	static const struct {
		const char *unit;
		double bytes;
	} units[] = { { "", 1 }, { "B", 1 }, { "kB", 1024.0 }, { "MB", 1024.0 * 1024 },
				  { "GB", 1024.0 * 1024 * 1024 }, { "TB", 1024.0 * 1024 * 1024 * 1024 } };
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno == 0 && end != arg && v >= 0 && !isnan(v) && !isinf(v)) {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(end, units[i].unit) == 0 && v * units[i].bytes <= 9.0e18) {
				*out = (int64_t) (v * units[i].bytes);
				return 0;
			}
	}
	shunt_error_set(err, SHUNT_E_USAGE, "invalid size \"%s\" for %s", arg, opt);
	shunt_error_hint(err, "Use a number with a unit: 512MB, 4GB (no unit: bytes).");
	return -1;
}
