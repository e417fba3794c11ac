/* test_config.c — the option table: defaults, config file, SOCLE_* environment, flags, their
 * precedence, list options, bad values (label unit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int load(struct socled_config *c, char *const *argv, char *const *envp, char *err) {
    int argc = 0;
    while (argv[argc])
        argc++;
    return cfg_load(c, argc, argv, envp, err, 512);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

int main(void) {
    struct socled_config c;
    char err[512];
    char *none[] = {"socled", NULL};
    char *noenv[] = {NULL};

    /* defaults */
    CHECK(load(&c, none, noenv, err) == CFG_OK);
    CHECK(c.n_endpoints == 0);
    CHECK(c.max_frame_bytes == 16u << 20);
    CHECK(c.hard_frame_bytes == 256u << 20);
    CHECK(c.max_texts == 256);
    CHECK(c.max_text_bytes == 1u << 20);
    CHECK(c.max_queue_bytes == 256u << 20);
    CHECK(c.workers == 0 && c.blas_threads == 0); /* 0 = auto (socled main) */
    CHECK(c.log_level == CFG_LOG_INFO);
    CHECK(!c.help && !c.model_dir);
    cfg_free(&c);

    /* file < env < flags, for a scalar and for the endpoint list */
    char path[] = "/tmp/socle_cfg_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    write_file(path, "# comment\n"
                     "workers = 3\n"
                     "max_texts = 10   # trailing comment, '_' spelling\n"
                     "max-text-bytes = 2k\n"
                     "endpoint = ipc:///tmp/a.sock\n"
                     "endpoint = tcp://127.0.0.1:7000\n"
                     "log-level = debug\n"
                     "model = /models/m\n");
    char *argv1[] = {"socled", "--config", path, NULL};
    CHECK(load(&c, argv1, noenv, err) == CFG_OK);
    CHECK(c.workers == 3 && c.max_texts == 10 && c.max_text_bytes == 2048);
    CHECK(c.n_endpoints == 2 && strcmp(c.endpoints[0], "ipc:///tmp/a.sock") == 0 &&
          strcmp(c.endpoints[1], "tcp://127.0.0.1:7000") == 0);
    CHECK(c.log_level == CFG_LOG_DEBUG);
    CHECK(c.model_dir && strcmp(c.model_dir, "/models/m") == 0);
    cfg_free(&c);

    char *env2[] = {"HOME=/root", "SOCLE_WORKERS=5", "SOCLE_ENDPOINT=ipc:///tmp/e1,ipc:///tmp/e2",
                    "SOCLE_MAX_FRAME_BYTES=1M", NULL};
    CHECK(load(&c, argv1, env2, err) == CFG_OK);
    CHECK(c.workers == 5);    /* env beats file */
    CHECK(c.max_texts == 10); /* file kept where env is silent */
    CHECK(c.max_frame_bytes == 1u << 20);
    CHECK(c.n_endpoints == 2 && strcmp(c.endpoints[0], "ipc:///tmp/e1") == 0 &&
          strcmp(c.endpoints[1], "ipc:///tmp/e2") == 0); /* env list replaces the file's */
    cfg_free(&c);

    char *argv3[] = {"socled",    "--workers=7", "--config", path, "--endpoint",
                     "tcp://*:1", "--log-level", "warn",     NULL};
    CHECK(load(&c, argv3, env2, err) == CFG_OK);
    CHECK(c.workers == 7); /* flags beat env and file, wherever --config appears */
    CHECK(c.n_endpoints == 1 && strcmp(c.endpoints[0], "tcp://*:1") == 0);
    CHECK(c.log_level == CFG_LOG_WARN);
    cfg_free(&c);

    /* SOCLE_CONFIG names the file when --config is absent */
    char cfgenv[300];
    snprintf(cfgenv, sizeof cfgenv, "SOCLE_CONFIG=%s", path);
    char *env4[] = {cfgenv, NULL};
    CHECK(load(&c, none, env4, err) == CFG_OK);
    CHECK(c.workers == 3);
    cfg_free(&c);

    /* booleans */
    char *argv5[] = {"socled", "--help", NULL};
    CHECK(load(&c, argv5, noenv, err) == CFG_OK && c.help);
    cfg_free(&c);
    char *argv6[] = {"socled", "--help", "--no-help", NULL};
    CHECK(load(&c, argv6, noenv, err) == CFG_OK && !c.help);
    cfg_free(&c);

    /* errors name the option and the source */
    char *bad1[] = {"socled", "--wokers", "3", NULL};
    CHECK(load(&c, bad1, noenv, err) == CFG_EINVAL && strstr(err, "--wokers"));
    cfg_free(&c);
    char *bad2[] = {"socled", "--workers", "-1", NULL};
    CHECK(load(&c, bad2, noenv, err) == CFG_EINVAL && strstr(err, "workers"));
    cfg_free(&c);
    char *bad3[] = {"socled", "--workers", NULL};
    CHECK(load(&c, bad3, noenv, err) == CFG_EINVAL && strstr(err, "needs a value"));
    cfg_free(&c);
    char *bad4[] = {"socled", "--max-frame-bytes", "12Q", NULL};
    CHECK(load(&c, bad4, noenv, err) == CFG_EINVAL && strstr(err, "max-frame-bytes"));
    cfg_free(&c);
    char *bad5[] = {"socled", "--log-level", "loud", NULL};
    CHECK(load(&c, bad5, noenv, err) == CFG_EINVAL && strstr(err, "loud"));
    cfg_free(&c);
    char *bad6[] = {"socled", "stray", NULL};
    CHECK(load(&c, bad6, noenv, err) == CFG_EINVAL && strstr(err, "stray"));
    cfg_free(&c);
    char *bad7[] = {"socled", "--max-frame-bytes", "2G", "--hard-frame-bytes",
                    "1G",     "--max-queue-bytes", "4G", NULL};
    CHECK(load(&c, bad7, noenv, err) == CFG_EINVAL && strstr(err, "hard-frame-bytes"));
    cfg_free(&c);
    char *bad9[] = {"socled", "--max-frame-bytes", "8M", "--max-queue-bytes", "4M", NULL};
    CHECK(load(&c, bad9, noenv, err) == CFG_EINVAL && strstr(err, "max-queue-bytes"));
    cfg_free(&c);
    char *env8[] = {"SOCLE_WORKERS=many", NULL};
    CHECK(load(&c, none, env8, err) == CFG_EINVAL && strstr(err, "environment"));
    cfg_free(&c);
    write_file(path, "workers = 2\nthis line has no equals sign\n");
    CHECK(load(&c, argv1, noenv, err) == CFG_EINVAL && strstr(err, ":2"));
    cfg_free(&c);
    write_file(path, "nonsense = 1\n");
    CHECK(load(&c, argv1, noenv, err) == CFG_EINVAL && strstr(err, "nonsense"));
    cfg_free(&c);
    unlink(path);
    char *argv9[] = {"socled", "--config", "/nonexistent/socled.conf", NULL};
    CHECK(load(&c, argv9, noenv, err) == CFG_EIO && strstr(err, "/nonexistent/socled.conf"));
    cfg_free(&c);

    /* --help lists every option with its environment name */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cfg_print_help(m, "socled");
    fclose(m);
    CHECK(strstr(buf, "--max-frame-bytes") && strstr(buf, "SOCLE_MAX_FRAME_BYTES"));
    CHECK(strstr(buf, "--endpoint") && strstr(buf, "SOCLE_ENDPOINT"));
    free(buf);

    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_config: all checks passed\n");
    return failures ? 1 : 0;
}
