#include "common/mqtt_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynlib.h"

/* Both builds come from the one Debian package. */
#define PAHO_PACKAGE "libpaho-mqtt1.3"

enum { BUILD_PLAIN, BUILD_TLS, N_BUILDS };

static const char *const sonames[N_BUILDS] = { "libpaho-mqtt3a.so.1", "libpaho-mqtt3as.so.1" };

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mqtt_lib builds[N_BUILDS];
static bool loaded[N_BUILDS];

bool mqtt_url_is_tls(const char *url)
{
	return url && (strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0 ||
		       strncmp(url, "wss://", 6) == 0);
}

#define SYM(fn) { "MQTTAsync_" #fn, (void **)&t->fn }

static void *open_build(struct mqtt_lib *t, const char *soname, char *err, size_t errlen)
{
	const struct dynlib_sym syms[] = {
		SYM(createWithOptions), SYM(setCallbacks), SYM(setConnected), SYM(connect),
		SYM(disconnect),        SYM(isConnected),  SYM(subscribe),    SYM(sendMessage),
		SYM(waitForCompletion), SYM(destroy),      SYM(freeMessage),  SYM(free),
		SYM(strerror),          SYM(setTraceLevel), SYM(global_init),
	};
	return dynlib_open("mqtt", soname, PAHO_PACKAGE, syms, sizeof syms / sizeof syms[0], err, errlen);
}

/* Before the build's first client: see the header for why each. */
static void set_up_build(const struct mqtt_lib *t)
{
	MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
	io.do_openssl_init = 0;
	t->global_init(&io);
	if (!getenv("MQTT_C_CLIENT_TRACE"))
		t->setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

static const struct mqtt_lib *get_build(int which, char *err, size_t errlen)
{
	const struct mqtt_lib *out = NULL;
	pthread_mutex_lock(&load_lock);
	if (loaded[which]) {
		out = &builds[which];
	} else if (dlsym(RTLD_DEFAULT, "MQTTAsync_createWithOptions")) {
		/* A Paho in the global scope (LD_PRELOAD, a program linking it)
		 * would take over the loaded build's calls into itself: seen to
		 * crash within ms of the first connect. Refuse, say why. */
		snprintf(err, errlen, "mqtt: a Paho library is already in the process's global scope "
			 "(LD_PRELOAD or a program linking it); refusing to load %s beside it", sonames[which]);
	} else {
		struct mqtt_lib t = { .soname = sonames[which] };
		if (open_build(&t, sonames[which], err, errlen)) {
			set_up_build(&t);
			builds[which] = t;
			loaded[which] = true;
			out = &builds[which];
		}
	}
	pthread_mutex_unlock(&load_lock);
	return out;
}

const struct mqtt_lib *mqtt_lib_for_url(const char *url, char *err, size_t errlen)
{
	return get_build(mqtt_url_is_tls(url) ? BUILD_TLS : BUILD_PLAIN, err, errlen);
}
