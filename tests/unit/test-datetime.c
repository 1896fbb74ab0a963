/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * INTERNALDATE parsing and RFC 3339 output, checked against GDateTime as an
 * independent reference: a table of valid dates (every month, both day
 * forms, zones east and west, leap days, dates before 1970 and after 2038),
 * a table of malformed ones, and a round trip over random instants and
 * zones.
 */
#include <stdarg.h>
#include <string.h>

#include <glib.h>

#include "imap/datetime.h"
#include "testutil.h"

static const char *const months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

struct valid_case {
	const char *text;
	int year, month, day, hour, minute, second;
	int zone;		/* minutes east of UTC */
	const char *rfc3339;
};

static const struct valid_case valid_cases[] = {
	{ "17-Jul-1996 02:44:25 -0700", 1996, 7, 17, 2, 44, 25, -420,
		"1996-07-17T02:44:25-07:00" },
	{ " 7-Jul-1996 02:44:25 -0700", 1996, 7, 7, 2, 44, 25, -420,
		"1996-07-07T02:44:25-07:00" },
	{ "07-Jul-1996 02:44:25 -0700", 1996, 7, 7, 2, 44, 25, -420,
		"1996-07-07T02:44:25-07:00" },
	/* not RFC 3501, but the parser says it is lenient about it */
	{ "7-Jul-1996 02:44:25 -0700", 1996, 7, 7, 2, 44, 25, -420,
		"1996-07-07T02:44:25-07:00" },
	{ "01-Jan-1970 00:00:00 +0000", 1970, 1, 1, 0, 0, 0, 0,
		"1970-01-01T00:00:00+00:00" },
	{ "01-Jan-1970 00:00:00 -0000", 1970, 1, 1, 0, 0, 0, 0,
		"1970-01-01T00:00:00+00:00" },
	{ "01-Jan-2000 12:00:00 +1400", 2000, 1, 1, 12, 0, 0, 840,
		"2000-01-01T12:00:00+14:00" },
	{ "01-Jan-2000 12:00:00 -1200", 2000, 1, 1, 12, 0, 0, -720,
		"2000-01-01T12:00:00-12:00" },
	{ "15-Aug-2011 08:15:00 +0530", 2011, 8, 15, 8, 15, 0, 330,
		"2011-08-15T08:15:00+05:30" },
	{ "15-Aug-2011 08:15:00 -0930", 2011, 8, 15, 8, 15, 0, -570,
		"2011-08-15T08:15:00-09:30" },
	{ "29-Feb-2024 23:59:59 +0000", 2024, 2, 29, 23, 59, 59, 0,
		"2024-02-29T23:59:59+00:00" },
	{ "29-Feb-2000 00:00:00 +0100", 2000, 2, 29, 0, 0, 0, 60,
		"2000-02-29T00:00:00+01:00" },
	{ "28-Feb-2100 12:00:00 +0000", 2100, 2, 28, 12, 0, 0, 0,
		"2100-02-28T12:00:00+00:00" },
	{ "01-Mar-2100 12:00:00 +0000", 2100, 3, 1, 12, 0, 0, 0,
		"2100-03-01T12:00:00+00:00" },
	{ "31-Dec-1969 23:59:59 +0000", 1969, 12, 31, 23, 59, 59, 0,
		"1969-12-31T23:59:59+00:00" },
	{ "01-Jan-1900 00:00:00 +0000", 1900, 1, 1, 0, 0, 0, 0,
		"1900-01-01T00:00:00+00:00" },
	{ "01-Jan-0001 00:00:00 +0000", 1, 1, 1, 0, 0, 0, 0,
		"0001-01-01T00:00:00+00:00" },
	/* 2^31 and 2^32 seconds */
	{ "19-Jan-2038 03:14:08 +0000", 2038, 1, 19, 3, 14, 8, 0,
		"2038-01-19T03:14:08+00:00" },
	{ "07-Feb-2106 06:28:16 +0000", 2106, 2, 7, 6, 28, 16, 0,
		"2106-02-07T06:28:16+00:00" },
	{ "31-Dec-9999 23:59:59 +0100", 9999, 12, 31, 23, 59, 59, 60,
		"9999-12-31T23:59:59+01:00" },
	/* the zone moves the instant across a day and a year */
	{ "01-Jan-2000 00:30:00 +0100", 2000, 1, 1, 0, 30, 0, 60,
		"2000-01-01T00:30:00+01:00" },
	{ "31-Dec-1999 23:30:00 -0100", 1999, 12, 31, 23, 30, 0, -60,
		"1999-12-31T23:30:00-01:00" },
	/* month names are case-insensitive like every IMAP keyword */
	{ "17-jul-1996 02:44:25 -0700", 1996, 7, 17, 2, 44, 25, -420,
		"1996-07-17T02:44:25-07:00" },
	{ "17-JUL-1996 02:44:25 -0700", 1996, 7, 17, 2, 44, 25, -420,
		"1996-07-17T02:44:25-07:00" },
	{ "01-Jan-2023 00:00:00 +0000", 2023, 1, 1, 0, 0, 0, 0,
		"2023-01-01T00:00:00+00:00" },
	{ "28-Feb-2023 01:02:03 +0000", 2023, 2, 28, 1, 2, 3, 0,
		"2023-02-28T01:02:03+00:00" },
	{ "31-Mar-2023 01:02:03 +0000", 2023, 3, 31, 1, 2, 3, 0,
		"2023-03-31T01:02:03+00:00" },
	{ "30-Apr-2023 01:02:03 +0000", 2023, 4, 30, 1, 2, 3, 0,
		"2023-04-30T01:02:03+00:00" },
	{ "31-May-2023 01:02:03 +0000", 2023, 5, 31, 1, 2, 3, 0,
		"2023-05-31T01:02:03+00:00" },
	{ "30-Jun-2023 01:02:03 +0000", 2023, 6, 30, 1, 2, 3, 0,
		"2023-06-30T01:02:03+00:00" },
	{ "31-Aug-2023 01:02:03 +0000", 2023, 8, 31, 1, 2, 3, 0,
		"2023-08-31T01:02:03+00:00" },
	{ "30-Sep-2023 01:02:03 +0000", 2023, 9, 30, 1, 2, 3, 0,
		"2023-09-30T01:02:03+00:00" },
	{ "31-Oct-2023 01:02:03 +0000", 2023, 10, 31, 1, 2, 3, 0,
		"2023-10-31T01:02:03+00:00" },
	{ "30-Nov-2023 01:02:03 +0000", 2023, 11, 30, 1, 2, 3, 0,
		"2023-11-30T01:02:03+00:00" },
	{ "31-Dec-2023 01:02:03 +0000", 2023, 12, 31, 1, 2, 3, 0,
		"2023-12-31T01:02:03+00:00" },
};

static const char *const invalid_cases[] = {
	"",
	" ",
	"17",
	"17-Jul-1996",
	"17-Jul-1996 02:44:25",		/* no zone */
	"17-Jul-1996 02:44:25 ",
	"17-Jux-1996 02:44:25 -0700",	/* bad month */
	"17-July-1996 02:44:25 -0700",
	"17-Ju-1996 02:44:25 -0700",
	"17--1996 02:44:25 -0700",
	"32-Jul-1996 02:44:25 -0700",	/* day 32 */
	"00-Jul-1996 02:44:25 -0700",	/* day 0 */
	" 0-Jul-1996 02:44:25 -0700",
	"17-Jul-1996 24:00:00 -0700",	/* hour 24 */
	"17-Jul-1996 02:60:00 -0700",
	"17-Jul-1996 02:44:61 -0700",
	"17-Jul-1996 02:44:25 -0760",	/* zone minutes 60 */
	"17-Jul-1996 02:44:25 -0700 ",	/* extra text */
	"17-Jul-1996 02:44:25 -0700x",
	"17-Jul-1996 02:44:25 -07000",
	"17-Jul-1996 02:44:25 -070",
	"17-Jul-1996 02:44:25 -07:00",
	"17-Jul-1996 02:44:25 0700",	/* no sign */
	"17-Jul-1996 02:44:25 GMT",
	"17-Jul-1996 02:44:25 Z",
	"Jul-17-1996 02:44:25 -0700",
	"1996-07-17 02:44:25 -0700",
	"17-Jul-96 02:44:25 -0700",	/* two-digit year */
	"17-Jul-19960 02:44:25 -0700",
	"1a-Jul-1996 02:44:25 -0700",	/* non-digits */
	"a7-Jul-1996 02:44:25 -0700",
	"17-Jul-19x6 02:44:25 -0700",
	"17-Jul-1996 0x:44:25 -0700",
	"17-Jul-1996 02:4x:25 -0700",
	"17-Jul-1996 02:44:2x -0700",
	"17-Jul-1996 02:44:25 -07x0",
	"17-Jul-1996 2:44:25 -0700",
	"17-Jul-1996 02:44 -0700",
	"17-Jul-1996T02:44:25 -0700",
	"17 Jul 1996 02:44:25 -0700",
	"17-Jul-1996  02:44:25 -0700",
	"17-Jul-1996 02:44:25  -0700",
	"  7-Jul-1996 02:44:25 -0700",
	"-7-Jul-1996 02:44:25 -0700",
	"+7-Jul-1996 02:44:25 -0700",
	"17-Jul-1996 02:44:25 +-700",
	"\"17-Jul-1996 02:44:25 -0700\"",
	/* days that the month does not have */
	"30-Feb-2024 00:00:00 +0000",
	"29-Feb-2023 00:00:00 +0000",
	"29-Feb-2100 00:00:00 +0000",
	"31-Apr-2023 00:00:00 +0000",
	"31-Jun-2023 00:00:00 +0000",
	"31-Sep-2023 00:00:00 +0000",
	"31-Nov-2023 00:00:00 +0000",
	/* offsets that RFC 3339 cannot write (time-hour is 00-23) */
	"17-Jul-1996 02:44:25 +2400",
	"17-Jul-1996 02:44:25 -9959",
};

/* The epoch GDateTime gives for a local time in a fixed zone. */
static gint64 reference_epoch(int year, int month, int day, int hour,
		int minute, int second, int zone)
{
	GTimeZone *tz = g_time_zone_new_offset(zone * 60);
	GDateTime *dt;
	gint64 epoch;

	g_assert_nonnull(tz);
	g_assert_cmpint(g_time_zone_get_offset(tz, 0), ==, zone * 60);
	dt = g_date_time_new(tz, year, month, day, hour, minute, second);
	g_assert_nonnull(dt);
	epoch = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	g_time_zone_unref(tz);
	return epoch;
}

/* GDateTime's RFC 3339 form of an instant shown in a fixed zone. */
static char *reference_rfc3339(gint64 epoch, int zone)
{
	GTimeZone *tz = g_time_zone_new_offset(zone * 60);
	GDateTime *utc = g_date_time_new_from_unix_utc(epoch);
	GDateTime *dt;
	char *s, *rest;

	g_assert_nonnull(utc);
	dt = g_date_time_to_timezone(utc, tz);
	g_assert_nonnull(dt);
	/* %Y does not pad years before 1000 */
	rest = g_date_time_format(dt, "%m-%dT%H:%M:%S%:z");
	g_assert_nonnull(rest);
	s = g_strdup_printf("%04d-%s", g_date_time_get_year(dt), rest);
	g_free(rest);
	g_date_time_unref(dt);
	g_date_time_unref(utc);
	g_time_zone_unref(tz);
	return s;
}

static void test_parse_valid(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		int64_t epoch = -12345;
		int zone = -12345;
		gint64 want = reference_epoch(c->year, c->month, c->day,
				c->hour, c->minute, c->second, c->zone);

		if (!imap_parse_internaldate(c->text, &epoch, &zone)) {
			fail("#%zu \"%s\": refused", i, c->text);
			continue;
		}
		if (epoch != want || zone != c->zone)
			fail("#%zu \"%s\": epoch %" G_GINT64_FORMAT
					" zone %d, want %" G_GINT64_FORMAT
					" zone %d", i, c->text, (gint64)epoch,
					zone, want, c->zone);
	}
}

/* A few epochs written out by hand, so that the reference itself is
 * checked too. */
static void test_parse_known_epochs(void)
{
	static const struct {
		const char *text;
		int64_t epoch;
	} cases[] = {
		{ "01-Jan-1970 00:00:00 +0000", 0 },
		{ "31-Dec-1969 23:59:59 +0000", -1 },
		{ "01-Jan-1970 00:00:00 +0100", -3600 },
		{ "01-Jan-1970 00:00:00 -0100", 3600 },
		{ "17-Jul-1996 02:44:25 -0700", 837596665 },
		{ "19-Jan-2038 03:14:08 +0000", 2147483648LL },
		{ "07-Feb-2106 06:28:16 +0000", 4294967296LL },
		{ "29-Feb-2024 00:00:00 +0000", 1709164800 },
		{ "01-Jan-1900 00:00:00 +0000", -2208988800LL },
		{ "01-Jan-0001 00:00:00 +0000", -62135596800LL },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int64_t epoch;
		int zone;

		g_assert_true(imap_parse_internaldate(cases[i].text, &epoch,
					&zone));
		g_assert_cmpint(epoch, ==, cases[i].epoch);
	}
}

static void test_parse_invalid(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(invalid_cases); i++) {
		int64_t epoch = 42;
		int zone = 42;

		if (imap_parse_internaldate(invalid_cases[i], &epoch, &zone))
			fail("#%zu \"%s\": accepted as %" G_GINT64_FORMAT
					" zone %d", i, invalid_cases[i],
					(gint64)epoch, zone);
	}
}

/* Every prefix of a valid date is refused (and read no further than its
 * terminating NUL, which ASan checks with the copy on the heap). */
static void test_parse_prefixes(void)
{
	const char *full = "17-Jul-1996 02:44:25 -0700";
	size_t len = strlen(full);

	for (size_t n = 0; n < len; n++) {
		char *prefix = g_strndup(full, n);
		int64_t epoch;
		int zone;

		if (imap_parse_internaldate(prefix, &epoch, &zone))
			fail("prefix \"%s\" accepted", prefix);
		g_free(prefix);
	}
}

static void test_format_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		gint64 epoch = reference_epoch(c->year, c->month, c->day,
				c->hour, c->minute, c->second, c->zone);
		char buf[IMAP_RFC3339_MAX];
		char *want = reference_rfc3339(epoch, c->zone);

		/* the table agrees with GDateTime */
		g_assert_cmpstr(want, ==, c->rfc3339);
		memset(buf, 'x', sizeof(buf));
		imap_format_rfc3339(epoch, c->zone, buf);
		if (strcmp(buf, c->rfc3339) != 0)
			fail("#%zu: %" G_GINT64_FORMAT " %+d gives \"%s\","
					" want \"%s\"", i, epoch, c->zone, buf,
					c->rfc3339);
		g_free(want);
	}
}

static void test_format_parse(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		char buf[IMAP_RFC3339_MAX];
		int64_t epoch;
		int zone;

		g_assert_true(imap_parse_internaldate(c->text, &epoch, &zone));
		imap_format_rfc3339(epoch, zone, buf);
		g_assert_cmpstr(buf, ==, c->rfc3339);
	}
}

/* The same instant shown in different zones: the wall clock moves, the
 * zone is the one asked for. */
static void test_format_zones(void)
{
	static const struct {
		int zone;
		const char *want;
	} cases[] = {
		{ 0, "1996-07-17T09:44:25+00:00" },
		{ -420, "1996-07-17T02:44:25-07:00" },
		{ 60, "1996-07-17T10:44:25+01:00" },
		{ 840, "1996-07-17T23:44:25+14:00" },
		{ 900, "1996-07-18T00:44:25+15:00" },
		{ -720, "1996-07-16T21:44:25-12:00" },
		{ 330, "1996-07-17T15:14:25+05:30" },
		{ -570, "1996-07-17T00:14:25-09:30" },
		{ -1439, "1996-07-16T09:45:25-23:59" },
		{ 1439, "1996-07-18T09:43:25+23:59" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char buf[IMAP_RFC3339_MAX];

		imap_format_rfc3339(837596665, cases[i].zone, buf);
		g_assert_cmpstr(buf, ==, cases[i].want);
	}
}

static void test_format_negative_epochs(void)
{
	static const struct {
		int64_t epoch;
		int zone;
		const char *want;
	} cases[] = {
		{ -1, 0, "1969-12-31T23:59:59+00:00" },
		{ -86399, 0, "1969-12-31T00:00:01+00:00" },
		{ -86400, 0, "1969-12-31T00:00:00+00:00" },
		{ -86401, 0, "1969-12-30T23:59:59+00:00" },
		{ 0, -1, "1969-12-31T23:59:00-00:01" },
		{ 59, -1, "1969-12-31T23:59:59-00:01" },
		{ 60, -1, "1970-01-01T00:00:00-00:01" },
		{ -62135596800LL, 0, "0001-01-01T00:00:00+00:00" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char buf[IMAP_RFC3339_MAX];

		imap_format_rfc3339(cases[i].epoch, cases[i].zone, buf);
		g_assert_cmpstr(buf, ==, cases[i].want);
	}
}

/* Random instants in years 1..9999 and zones within a day: the format is
 * GDateTime's, and the INTERNALDATE written from GDateTime's fields parses
 * back to the same instant and zone. */
static void test_round_trip_random(void)
{
	/* 0001-01-01T00:00:00Z and 9999-12-30T00:00:00Z, leaving room for
	 * any zone */
	const gint64 lo = -62135596800LL + 86400, hi = 253402128000LL;

	for (int i = 0; i < 20000; i++) {
		/* uniform over [lo, hi) at one-second resolution */
		gint64 epoch = lo +
			(gint64)(g_test_rand_double() * (double)(hi - lo));
		int zone = g_test_rand_int_range(-1439, 1440);
		GTimeZone *tz;
		GDateTime *utc, *dt;
		char buf[IMAP_RFC3339_MAX];
		char *want, *text;
		int64_t parsed;
		int parsed_zone;

		/* near the epoch, where signs bite */
		if (i % 4 == 0)
			epoch = g_test_rand_int_range(-200000, 200000);
		if (i % 8 == 1)		/* common zones */
			zone = (g_test_rand_int_range(-12, 15)) * 60;

		want = reference_rfc3339(epoch, zone);
		imap_format_rfc3339(epoch, zone, buf);
		if (strcmp(buf, want) != 0)
			fail("%" G_GINT64_FORMAT " %+d: \"%s\", want \"%s\"",
					epoch, zone, buf, want);
		g_free(want);

		tz = g_time_zone_new_offset(zone * 60);
		utc = g_date_time_new_from_unix_utc(epoch);
		dt = g_date_time_to_timezone(utc, tz);
		/* both day forms: " 7" and "07" */
		text = g_strdup_printf(i % 2 ?
				"%2d-%s-%04d %02d:%02d:%02d %c%02d%02d" :
				"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
				g_date_time_get_day_of_month(dt),
				months[g_date_time_get_month(dt) - 1],
				g_date_time_get_year(dt),
				g_date_time_get_hour(dt),
				g_date_time_get_minute(dt),
				g_date_time_get_second(dt),
				zone < 0 ? '-' : '+', ABS(zone) / 60,
				ABS(zone) % 60);
		if (!imap_parse_internaldate(text, &parsed, &parsed_zone))
			fail("\"%s\" refused", text);
		else if (parsed != epoch || parsed_zone != zone)
			fail("\"%s\": %" G_GINT64_FORMAT " %+d, want %"
					G_GINT64_FORMAT " %+d", text,
					(gint64)parsed, parsed_zone, epoch,
					zone);
		g_free(text);
		g_date_time_unref(dt);
		g_date_time_unref(utc);
		g_time_zone_unref(tz);
		if (g_test_failed())
			break;		/* one example is enough */
	}
}

/* Every day of 1999..2001 and 2099..2101 (leap rules of 4, 100 and 400)
 * parses to the epoch GDateTime gives and formats back to itself. */
static void test_every_day(void)
{
	static const int ranges[][2] = { { 1999, 2001 }, { 2099, 2101 } };

	for (size_t r = 0; r < G_N_ELEMENTS(ranges); r++) {
		for (int y = ranges[r][0]; y <= ranges[r][1]; y++) {
			for (int m = 1; m <= 12; m++) {
				int days = g_date_get_days_in_month(m, y);

				for (int d = 1; d <= days; d++) {
					char *text = g_strdup_printf(
						"%02d-%s-%d 12:34:56 +0200",
						d, months[m - 1], y);
					char *want = g_strdup_printf(
						"%d-%02d-%02dT12:34:56+02:00",
						y, m, d);
					char buf[IMAP_RFC3339_MAX];
					int64_t epoch;
					int zone;

					g_assert_true(imap_parse_internaldate(
							text, &epoch, &zone));
					g_assert_cmpint(epoch, ==,
						reference_epoch(y, m, d, 12,
							34, 56, 120));
					imap_format_rfc3339(epoch, zone, buf);
					g_assert_cmpstr(buf, ==, want);
					g_free(text);
					g_free(want);
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datetime/parse/valid", test_parse_valid);
	g_test_add_func("/datetime/parse/known-epochs",
			test_parse_known_epochs);
	g_test_add_func("/datetime/parse/invalid", test_parse_invalid);
	g_test_add_func("/datetime/parse/prefixes", test_parse_prefixes);
	g_test_add_func("/datetime/format/table", test_format_table);
	g_test_add_func("/datetime/format/parsed", test_format_parse);
	g_test_add_func("/datetime/format/zones", test_format_zones);
	g_test_add_func("/datetime/format/negative-epochs",
			test_format_negative_epochs);
	g_test_add_func("/datetime/round-trip/random",
			test_round_trip_random);
	g_test_add_func("/datetime/round-trip/every-day", test_every_day);
	return g_test_run();
}
