/* mqtt_lib — Paho MQTTAsync loaded at run time, one of its two builds per
 * connection. gridgw links no Paho: a tcp:// (mqtt://, ws://) connection
 * uses libpaho-mqtt3a, an ssl:// (mqtts://, wss://) one libpaho-mqtt3as,
 * each dlopen()ed the first time a connection of its kind is created. A
 * gateway without TLS thus never maps libssl + libcrypto (2.1 MB of RSS,
 * docs/benchmarks.md), and a reload that adds TLS loads the TLS build then.
 *
 * Both builds export the same MQTTAsync_* names with different code behind
 * them. Each is loaded RTLD_LOCAL, so neither is in the global scope and
 * neither can interpose on the other: a client must only ever be handed
 * to the table of the build that created it (keep the table beside the
 * handle). Types, constants and initializers still come from MQTTAsync.h.
 *
 * A build is set up once, right after it is loaded and before its first
 * client: MQTTAsync_global_init with do_openssl_init = 0 (OpenSSL >= 1.1
 * initialises itself on first use; Paho's init would touch 1.35 MB more of
 * libcrypto) and the trace level raised to errors unless MQTT_C_CLIENT_TRACE
 * asks for Paho's own tracing (its trace ring costs several % of a receive
 * thread and nothing reads it).
 *
 * Thread-safe; the loaded builds are never unloaded. */
#ifndef GRIDGW_MQTT_LIB_H
#define GRIDGW_MQTT_LIB_H

#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

/* The Paho functions gridgw calls, with Paho's own prototypes. */
struct mqtt_lib {
	const char *soname;
	__typeof__(MQTTAsync_createWithOptions) *createWithOptions;
	__typeof__(MQTTAsync_setCallbacks) *setCallbacks;
	__typeof__(MQTTAsync_setConnected) *setConnected;
	__typeof__(MQTTAsync_connect) *connect;
	__typeof__(MQTTAsync_disconnect) *disconnect;
	__typeof__(MQTTAsync_isConnected) *isConnected;
	__typeof__(MQTTAsync_subscribe) *subscribe;
	__typeof__(MQTTAsync_sendMessage) *sendMessage;
	__typeof__(MQTTAsync_waitForCompletion) *waitForCompletion;
	__typeof__(MQTTAsync_destroy) *destroy;
	__typeof__(MQTTAsync_freeMessage) *freeMessage;
	__typeof__(MQTTAsync_free) *free;
	__typeof__(MQTTAsync_strerror) *strerror;
	__typeof__(MQTTAsync_setTraceLevel) *setTraceLevel;
	__typeof__(MQTTAsync_global_init) *global_init;
};

/* True for the schemes that need Paho's TLS build: ssl://, mqtts://, wss://. */
bool mqtt_url_is_tls(const char *url);

/* The build for a connection to url, loaded and set up on first use. NULL
 * with the reason in err (the library that cannot be loaded and the Debian
 * package to install, or the symbol it lacks); a later call tries again. */
const struct mqtt_lib *mqtt_lib_for_url(const char *url, char *err, size_t errlen);

#endif
