/*
 * plot.c: a small SVG writer for shunt-load's per-second CSV.
 *
 * Why our own SVG and not gnuplot (gnuplot-nox): no new dependency for the
 * demo and CI (gnuplot-nox brings a dozen libraries); the picture we want is
 * fixed and small (log y axis in ms with labelled decades, named phase
 * bands, red error bars, a legend), about 400 lines of plain fprintf; and
 * SVG is text, so the output is deterministic, diffable and opens in any
 * browser without a plotting script language in between.
 *
 * Layout (1200x700): title; the latency plot; below it, on the same x
 * axis, a strip of red bars with the errors per second; the phases as
 * bands behind both; the legend on the right.  Every bar and band carries
 * a <title>, which browsers show on hover.
 */
#include "plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define PLOT_MAX_GROUPS 64
#define W 1200
#define H 700
#define X0 80.0          /* plot area, left */
#define X1 1000.0        /* plot area, right; the legend follows */
#define Y0 60.0          /* plot area, top */
#define Y1 540.0         /* plot area, bottom */
#define S0 552.0         /* error strip, top */
#define S1 612.0         /* error strip, bottom */
#define CHAR_W 6.6       /* mean width of a 12px sans-serif character */

static const char seconds_header[] = "second,group,count,errors,p50_ms,p99_ms,max_ms";
static const char phases_header[] = "phase,start_s,end_s";

/* Colours for the groups; red is kept for errors. */
static const char *const palette[] = {
	"#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
};

typedef struct plot_row {
	int64_t sec;
	size_t group;
	uint64_t count;
	uint64_t errors;
	double p99;      /* ms; NAN when no transaction of the second succeeded */
	double max;
} plot_row;

typedef struct plot_phase {
	char name[64];
	double start;
	double end;
} plot_phase;

typedef struct plot_data {
	plot_row *rows;
	size_t nrows;
	size_t caprows;
	char *groups[PLOT_MAX_GROUPS];
	size_t ngroups;
	plot_phase *phases;
	size_t nphases;
	double xmax;      /* seconds */
	double ylo, yhi;  /* ms, powers of ten */
} plot_data;

static void
data_release(plot_data *d)
{
	free(d->rows);
	free(d->phases);
	for (size_t i = 0; i < d->ngroups; i++)
		free(d->groups[i]);
}

/* Split line in place at commas (no quoting: shunt-load never needs it);
 * strips the line end.  Returns the number of fields. */
static int
split_csv(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, ',');
		if (line == NULL)
			break;
		*line++ = '\0';
	}
	return line ? max + 1 : n;
}

/* A number, NAN for an empty field; false if not a number. */
static bool
num(const char *s, double *out)
{
	char *end;

	if (*s == '\0') {
		*out = NAN;
		return true;
	}
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*out);
}

static long
group_index(plot_data *d, const char *name)
{
	for (size_t i = 0; i < d->ngroups; i++)
		if (strcmp(d->groups[i], name) == 0)
			return (long) i;
	if (d->ngroups == PLOT_MAX_GROUPS)
		return -1;
	d->groups[d->ngroups] = shunt_xstrdup(name);
	return (long) d->ngroups++;
}

/* True if the first line of f is the header want. */
static bool
read_header(FILE *f, char **line, size_t *cap, const char *want)
{
	if (getline(line, cap, f) < 0)
		return false;
	(*line)[strcspn(*line, "\r\n")] = '\0';
	return strcmp(*line, want) == 0;
}

static int
read_seconds(plot_data *d, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *fld[8];
	size_t cap = 0, lineno = 1;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "shunt-load: cannot read \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	if (!read_header(f, &line, &cap, seconds_header)) {
		fprintf(stderr, "shunt-load: \"%s\" is not a shunt-load seconds file (header \"%s\")\n",
			path, seconds_header);
		goto done;
	}
	while (getline(&line, &cap, f) >= 0) {
		double sec, count, errors, p50, p99, max;
		plot_row *r;
		long g;

		lineno++;
		if (split_csv(line, fld, 7) != 7 || !num(fld[0], &sec) || !num(fld[2], &count) ||
			!num(fld[3], &errors) || !num(fld[4], &p50) || !num(fld[5], &p99) ||
			!num(fld[6], &max) || isnan(sec) || sec < 0 || sec > 1e7 || isnan(count) ||
			isnan(errors)) {
			fprintf(stderr, "shunt-load: \"%s\" line %zu: not a row of 7 numbers and a name\n",
				path, lineno);
			goto done;
		}
		if ((g = group_index(d, fld[1])) < 0) {
			fprintf(stderr, "shunt-load: \"%s\": more than %d groups\n", path, PLOT_MAX_GROUPS);
			goto done;
		}
		/* doubling: a long run has tens of thousands of rows */
		if (d->nrows == d->caprows) {
			d->caprows = d->caprows ? 2 * d->caprows : 256;
			d->rows = shunt_xrealloc(d->rows, d->caprows * sizeof(*d->rows));
		}
		r = &d->rows[d->nrows++];
		r->sec = (int64_t) sec;
		r->group = (size_t) g;
		r->count = (uint64_t) count;
		r->errors = (uint64_t) errors;
		r->p99 = p99;
		r->max = max;
	}
	rc = 0;
done:
	free(line);
	fclose(f);
	return rc;
}

/* The phases file is optional: without it, no bands. */
static int
read_phases(plot_data *d, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *fld[4];
	size_t cap = 0;
	int rc = -1;

	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "shunt-load: cannot read \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	if (!read_header(f, &line, &cap, phases_header)) {
		fprintf(stderr, "shunt-load: \"%s\" is not a shunt-load phases file\n", path);
		goto done;
	}
	while (getline(&line, &cap, f) >= 0) {
		plot_phase *p;
		double start, end;

		if (split_csv(line, fld, 3) != 3 || !num(fld[1], &start) || !num(fld[2], &end) ||
			isnan(start) || isnan(end)) {
			fprintf(stderr, "shunt-load: \"%s\": bad row\n", path);
			goto done;
		}
		d->phases = shunt_xrealloc(d->phases, (d->nphases + 1) * sizeof(*d->phases));
		p = &d->phases[d->nphases++];
		snprintf(p->name, sizeof(p->name), "%s", fld[0]);
		p->start = start;
		p->end = end;
	}
	rc = 0;
done:
	free(line);
	fclose(f);
	return rc;
}

/* The x range (whole seconds, at least 1) and the y range in decades. */
static void
fit_scales(plot_data *d)
{
	double lo = INFINITY, hi = 0;
	int dlo, dhi;

	d->xmax = 1;
	for (size_t i = 0; i < d->nrows; i++) {
		const plot_row *r = &d->rows[i];

		if ((double) r->sec + 1 > d->xmax)
			d->xmax = (double) r->sec + 1;
		if (!isnan(r->p99) && r->p99 > 0 && r->p99 < lo)
			lo = r->p99;
		if (!isnan(r->max) && r->max > hi)
			hi = r->max;
	}
	for (size_t i = 0; i < d->nphases; i++)
		if (d->phases[i].end > d->xmax)
			d->xmax = ceil(d->phases[i].end);
	if (hi <= 0 || !isfinite(lo)) {
		lo = 0.1;
		hi = 100;
	}
	dlo = (int) floor(log10(lo));
	dhi = (int) ceil(log10(hi));
	if (dhi <= dlo)
		dhi = dlo + 1;
	if (dhi - dlo < 2) /* two decades at least, or the axis has one label */
		dlo = dhi - 2;
	d->ylo = pow(10, dlo);
	d->yhi = pow(10, dhi);
}

static double
sx(const plot_data *d, double sec)
{
	return X0 + (X1 - X0) * sec / d->xmax;
}

static double
sy(const plot_data *d, double ms)
{
	if (!(ms > d->ylo))
		ms = d->ylo;
	return Y1 - (Y1 - Y0) * (log10(ms) - log10(d->ylo)) / (log10(d->yhi) - log10(d->ylo));
}

static void
xml_put(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* "0.1 ms", "5 ms", "2 s". */
static void
ms_label(char *out, size_t len, double ms)
{
	if (ms >= 1000)
		snprintf(out, len, "%g s", ms / 1000);
	else
		snprintf(out, len, "%g ms", ms);
}

static void
draw_phases(FILE *f, const plot_data *d)
{
	for (size_t i = 0; i < d->nphases; i++) {
		const plot_phase *p = &d->phases[i];
		double a = sx(d, p->start), b = sx(d, p->end);

		if (b < a + 1)
			b = a + 1; /* a phase of a few ms still shows */
		fputs("<g><title>phase ", f);
		xml_put(f, p->name);
		fprintf(f, ": %.3f s to %.3f s</title>\n", p->start, p->end);
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
			a, Y0, b - a, S1 - Y0, i % 2 ? "#f5ecd9" : "#e3ebf7");
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#8a96aa\" "
		           "stroke-dasharray=\"3,3\"/></g>\n",
			a, Y0, a, S1);
	}
}

/* The phase names, drawn last so that no band, grid line or series hides
 * them: side by side where they fit, else on the next free row (4 rows,
 * then the least crowded), with a white halo to stay legible on lines. */
static void
draw_phase_labels(FILE *f, const plot_data *d)
{
	double level_end[4] = { -1e9, -1e9, -1e9, -1e9 };

	for (size_t i = 0; i < d->nphases; i++) {
		const plot_phase *p = &d->phases[i];
		double x = sx(d, p->start) + 3;
		int level = 0;

		while (level < 3 && x < level_end[level] + 8)
			level++;
		if (x < level_end[level] + 8) {
			for (int l = 0; l < 4; l++)
				if (level_end[l] < level_end[level])
					level = l;
		}
		level_end[level] = x + CHAR_W * (double) strlen(p->name);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#33415c\" stroke=\"#ffffff\" "
		           "stroke-width=\"3\" stroke-opacity=\"0.8\" paint-order=\"stroke\">",
			x, Y0 + 15 + 14 * level);
		xml_put(f, p->name);
		fputs("</text>\n", f);
	}
}

static void
draw_axes(FILE *f, const plot_data *d)
{
	static const double steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
		7200, 18000, 36000, 86400 };
	double step = steps[sizeof(steps) / sizeof(steps[0]) - 1], decades;
	char label[32];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (d->xmax / steps[i] <= 12) {
			step = steps[i];
			break;
		}
	}
	for (double t = 0; t <= d->xmax + 1e-9; t += step) {
		double x = sx(d, t);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d8d8d8\"/>\n",
			x, Y0, x, S1);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x, S1 + 16,
			t);
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">seconds since the start "
	           "(by intended start of each transaction)</text>\n",
		(X0 + X1) / 2, S1 + 38);

	decades = log10(d->yhi) - log10(d->ylo);
	for (double dec = d->ylo; dec < d->yhi * 1.001; dec *= 10) {
		for (int m = 1; m < 10; m++) {
			double v = dec * m, y;
			bool labelled = m == 1 || (decades <= 3 && (m == 2 || m == 5));

			if (v > d->yhi * 1.001)
				break;
			y = sy(d, v);
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
				X0, y, X1, y, m == 1 ? "#b0b0b0" : "#ececec");
			if (labelled) {
				ms_label(label, sizeof(label), v);
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"%s>%s</text>\n", X0 - 6,
					y + 4, m == 1 ? "" : " fill=\"#777\"", label);
			}
		}
	}
	fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">"
	           "latency per second (log scale)</text>\n",
		(Y0 + Y1) / 2);
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
	           "stroke=\"#555\"/>\n",
		X0, Y0, X1 - X0, Y1 - Y0);
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
	           "stroke=\"#555\"/>\n",
		X0, S0, X1 - X0, S1 - S0);
}

/* One group's p99 (solid) or max (dashed) as polylines, broken where a
 * second has no latency; a lone point becomes a dot. */
static void
draw_series(FILE *f, const plot_data *d, size_t g, bool max)
{
	const char *colour = palette[g % (sizeof(palette) / sizeof(palette[0]))];
	int64_t prev = -2;
	size_t npts = 0;
	double lx = 0, ly = 0;

	/* one step past the last row, to close the last polyline */
	for (size_t i = 0; i <= d->nrows; i++) {
		bool end = i == d->nrows;
		double v = NAN;
		int64_t sec = -1;

		if (!end) {
			if (d->rows[i].group != g)
				continue;
			v = max ? d->rows[i].max : d->rows[i].p99;
			sec = d->rows[i].sec;
		}
		if (npts > 0 && (end || isnan(v) || sec != prev + 1)) {
			if (npts == 1)
				fprintf(f, "\"/>\n<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", lx,
					ly, colour);
			else
				fputs("\"/>\n", f);
			npts = 0;
		}
		if (end || isnan(v))
			continue;
		lx = sx(d, (double) sec + 0.5);
		ly = sy(d, v);
		if (npts == 0)
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"",
				colour, max ? "1.2" : "2", max ? " stroke-dasharray=\"5,3\" opacity=\"0.85\"" : "");
		fprintf(f, "%s%.1f,%.1f", npts ? " " : "", lx, ly);
		npts++;
		prev = sec;
	}
}

static void
draw_errors(FILE *f, const plot_data *d, uint64_t *total_out)
{
	size_t n = (size_t) d->xmax;
	uint64_t *per_sec = shunt_xcalloc(n + 1, sizeof(*per_sec)), top = 0, total = 0;

	for (size_t i = 0; i < d->nrows; i++)
		if ((size_t) d->rows[i].sec <= n)
			per_sec[d->rows[i].sec] += d->rows[i].errors;
	for (size_t s = 0; s <= n; s++) {
		total += per_sec[s];
		if (per_sec[s] > top)
			top = per_sec[s];
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c62828\">errors/s</text>\n",
		X0 - 6, (S0 + S1) / 2 + 4);
	if (top == 0) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#777\">no errors</text>\n", X0 + 6,
			(S0 + S1) / 2 + 4);
	} else {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c62828\">%llu</text>\n",
			X0 - 6, S0 + 10, (unsigned long long) top);
		for (size_t s = 0; s <= n; s++) {
			double h, x = sx(d, (double) s), w = sx(d, (double) s + 1) - x;

			if (per_sec[s] == 0)
				continue;
			h = (S1 - S0 - 4) * (double) per_sec[s] / (double) top;
			if (h < 2)
				h = 2; /* one error must still be seen */
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			           "fill=\"#d62728\"><title>second %zu: %llu errors</title></rect>\n",
				x + 0.5, S1 - h, w > 2 ? w - 1 : 1, h, s, (unsigned long long) per_sec[s]);
		}
	}
	*total_out = total;
	free(per_sec);
}

static void
draw_legend(FILE *f, const plot_data *d, uint64_t errors)
{
	double x = X1 + 20, y = Y0 + 10;

	for (size_t g = 0; g < d->ngroups; g++) {
		const char *colour = palette[g % (sizeof(palette) / sizeof(palette[0]))];

		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", x, y + 4);
		xml_put(f, d->groups[g]);
		fputs("</text>\n", f);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		           "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">p99</text>\n",
			x, y + 20, x + 28, y + 20, colour, x + 34, y + 24);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		           "stroke-width=\"1.2\" stroke-dasharray=\"5,3\"/>"
		           "<text x=\"%.1f\" y=\"%.1f\">max</text>\n",
			x, y + 38, x + 28, y + 38, colour, x + 34, y + 42);
		y += 62;
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"#d62728\"/>"
	           "<text x=\"%.1f\" y=\"%.1f\">errors: %llu</text>\n",
		x, y, x + 18, y + 10, (unsigned long long) errors);
}

static int
write_svg(const plot_data *d, const char *out, const char *title)
{
	FILE *f = fopen(out, "w");
	uint64_t errors = 0;

	if (f == NULL) {
		fprintf(stderr, "shunt-load: cannot write \"%s\": %s\n", out, strerror(errno));
		return -1;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	           "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
	           "font-size=\"12\">\n"
	           "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
		W, H, W, H, W, H);
	fprintf(f, "<text x=\"%.1f\" y=\"32\" font-size=\"17\" font-weight=\"bold\">", X0);
	xml_put(f, title ? title : "shunt-load: p99 and max latency per second");
	fputs("</text>\n", f);
	draw_phases(f, d);
	draw_axes(f, d);
	draw_errors(f, d, &errors);
	for (size_t g = 0; g < d->ngroups; g++) {
		draw_series(f, d, g, true);
		draw_series(f, d, g, false);
	}
	draw_phase_labels(f, d);
	draw_legend(f, d, errors);
	fputs("</svg>\n", f);
	if (ferror(f) | (fclose(f) != 0)) {
		fprintf(stderr, "shunt-load: error writing \"%s\": %s\n", out, strerror(errno));
		return -1;
	}
	return 0;
}

int
plot_svg(const char *prefix, const char *out, const char *title)
{
	static const char suffix[] = ".seconds.csv";
	plot_data d;
	size_t plen = strlen(prefix);
	char *base, *path;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	/* PREFIX or PREFIX.seconds.csv */
	if (plen > strlen(suffix) && strcmp(prefix + plen - strlen(suffix), suffix) == 0)
		plen -= strlen(suffix);
	base = shunt_xstrndup(prefix, plen);
	path = shunt_xmalloc(plen + 32);
	snprintf(path, plen + 32, "%s.seconds.csv", base);
	if (read_seconds(&d, path) != 0)
		goto done;
	snprintf(path, plen + 32, "%s.phases.csv", base);
	if (read_phases(&d, path) != 0)
		goto done;
	fit_scales(&d);
	rc = write_svg(&d, out, title);
done:
	free(base);
	free(path);
	data_release(&d);
	return rc;
}
