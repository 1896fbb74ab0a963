/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "fs/shutdown.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "log.h"

static const int stop_signals[] = { SIGHUP, SIGINT, SIGTERM };

/* A handler has no argument: the pipe it writes to is the process's. */
static int signal_pipe[2] = { -1, -1 };

struct fs_shutdown {
	struct fuse_session *se;
	void (*before_exit)(void *data);
	void *data;
	pthread_t loop_thread;
	GThread *thread;
	struct sigaction old[G_N_ELEMENTS(stop_signals)];
	int signal;		/* the one that ended the loop, or 0 */
};

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	/* Non-blocking: a full pipe already holds a wake-up. */
	(void)!write(signal_pipe[1], &c, 1);
	errno = saved;
}

static gpointer shutdown_main(gpointer data)
{
	struct fs_shutdown *sd = data;
	sigset_t all;
	char c;
	ssize_t n;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	do
		n = read(signal_pipe[0], &c, 1);
	while (n < 0 && errno == EINTR);
	/* 0: fs_shutdown_finish() after the loop ended by itself. */
	if (n != 1 || c == 0)
		return NULL;
	sd->signal = c;
	log_debug(LOG_AREA_FUSE, "signal %d: stopping", c);
	sd->before_exit(sd->data);
	fuse_session_exit(sd->se);
	/* The loop's thread waits (sem_wait(), or read() of /dev/fuse with
	 * -s) until a signal interrupts it: our handler, which only writes
	 * to the pipe again. */
	pthread_kill(sd->loop_thread, SIGTERM);
	return NULL;
}

struct fs_shutdown *fs_shutdown_start(struct fuse_session *se,
		void (*before_exit)(void *data), void *data)
{
	struct fs_shutdown *sd;
	struct sigaction sa = { .sa_handler = on_signal };
	size_t i;

	g_return_val_if_fail(signal_pipe[0] < 0, NULL);
	if (pipe2(signal_pipe, O_CLOEXEC) < 0) {
		log_warning("cannot make a pipe for signals: %s",
				g_strerror(errno));
		return NULL;
	}
	(void)fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
	sd = g_new0(struct fs_shutdown, 1);
	sd->se = se;
	sd->before_exit = before_exit;
	sd->data = data;
	sd->loop_thread = pthread_self();
	sd->thread = g_thread_new("imapfs-stop", shutdown_main, sd);
	/* No SA_RESTART: the loop's wait must end with EINTR. */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < G_N_ELEMENTS(stop_signals); i++)
		(void)sigaction(stop_signals[i], &sa, &sd->old[i]);
	return sd;
}

int fs_shutdown_finish(struct fs_shutdown **shutdown)
{
	struct fs_shutdown *sd = *shutdown;
	char quit = 0;
	int sig;

	if (!sd)
		return 0;
	*shutdown = NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(stop_signals); i++)
		(void)sigaction(stop_signals[i], &sd->old[i], NULL);
	/* Wakes the thread if no signal did; if one did, it is already on
	 * its way out, and this byte is never read. */
	(void)!write(signal_pipe[1], &quit, 1);
	g_thread_join(sd->thread);
	close(signal_pipe[0]);
	close(signal_pipe[1]);
	signal_pipe[0] = signal_pipe[1] = -1;
	sig = sd->signal;
	g_free(sd);
	return sig;
}
