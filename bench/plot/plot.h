/*
 * plot.h: the SVG picture of a shunt-load run (shunt-load --plot).
 *
 * Reads the files shunt-load --out PREFIX wrote (PREFIX.seconds.csv and
 * PREFIX.phases.csv); depends on core/alloc.h only.
 */
#ifndef SHUNT_PLOT_H
#define SHUNT_PLOT_H

/*
 * Writes OUT, an SVG of 1200x700: p99 (solid) and max (dashed) latency per
 * second, one colour per group, on a log scale in ms; the phases as
 * shaded, named bands; the errors per second as red bars in a strip below.
 * prefix may also be the path of the .seconds.csv itself.  title may be
 * NULL.  Returns 0, or -1 with a message on stderr.
 */
int plot_svg(const char *prefix, const char *out, const char *title);

#endif
