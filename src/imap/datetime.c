/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/datetime.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil); avoids timegm() and its TZ games. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r,
		unsigned *d_r)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d_r = doy - (153 * mp + 2) / 5 + 1;
	*m_r = mp < 10 ? mp + 3 : mp - 9;
	*y_r = y + (*m_r <= 2);
}

static unsigned days_in_month(unsigned year, unsigned month)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static bool parse_digits(const char **p, unsigned count, unsigned *value_r)
{
	unsigned v = 0;

	for (unsigned i = 0; i < count; i++) {
		if (!g_ascii_isdigit((*p)[i]))
			return false;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += count;
	*value_r = v;
	return true;
}

bool imap_parse_internaldate(const char *text, int64_t *epoch_r,
		int *zone_minutes_r)
{
	const char *p = text;
	unsigned day, month = 0, year, hour, minute, second, zh, zm;
	int sign;

	/* date-day-fixed is " 7" or "07"; be lenient about "7". */
	if (*p == ' ')
		p++;
	if (g_ascii_isdigit(p[0]) && g_ascii_isdigit(p[1])) {
		if (!parse_digits(&p, 2, &day))
			return false;
	} else if (!parse_digits(&p, 1, &day)) {
		return false;
	}
	if (*p++ != '-')
		return false;
	for (unsigned i = 0; i < 12; i++) {
		if (g_ascii_strncasecmp(p, month_names[i], 3) == 0)
			month = i + 1;
	}
	if (month == 0)
		return false;
	p += 3;
	if (*p++ != '-' || !parse_digits(&p, 4, &year) || *p++ != ' ' ||
			!parse_digits(&p, 2, &hour) || *p++ != ':' ||
			!parse_digits(&p, 2, &minute) || *p++ != ':' ||
			!parse_digits(&p, 2, &second) || *p++ != ' ')
		return false;
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!parse_digits(&p, 2, &zh) || !parse_digits(&p, 2, &zm) || *p)
		return false;
	if (day < 1 || day > days_in_month(year, month) || hour > 23 ||
			minute > 59 || second > 60 || zh > 23 || zm > 59)
		return false;
	*zone_minutes_r = sign * (int)(zh * 60 + zm);
	*epoch_r = days_from_civil(year, month, day) * 86400 +
		hour * 3600 + minute * 60 + second -
		(int64_t)*zone_minutes_r * 60;
	return true;
}

void imap_format_rfc3339(int64_t epoch, int zone_minutes, char *buf)
{
	int64_t local = epoch + (int64_t)zone_minutes * 60;
	int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t secs = local - days * 86400;
	int64_t year;
	unsigned month, day;
	int zone = zone_minutes < 0 ? -zone_minutes : zone_minutes;

	civil_from_days(days, &year, &month, &day);
	snprintf(buf, IMAP_RFC3339_MAX,
			"%04" G_GINT64_FORMAT "-%02u-%02uT%02d:%02d:%02d%c%02d:%02d",
			year, month, day, (int)(secs / 3600),
			(int)(secs / 60 % 60), (int)(secs % 60),
			zone_minutes < 0 ? '-' : '+', zone / 60, zone % 60);
}
