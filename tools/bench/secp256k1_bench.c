/*
 * The physical limit for `signer bench crypto`: the same Schnorr sign, verify and raw-x ECDH loops as the Swift
 * benchmark, written directly against libsecp256k1. Keys and the keypair are prepared outside the timed loops, as
 * the Swift side prepares them. Prints one line per operation: "<name> <nanoseconds per op>".
 *
 * Build: cc -O2 -o secp256k1_bench secp256k1_bench.c -lsecp256k1
 * Usage: secp256k1_bench [iterations]
 */
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int copy_x(unsigned char *output, const unsigned char *x32, const unsigned char *y32, void *data) {
    (void)y32;
    (void)data;
    memcpy(output, x32, 32);
    return 1;
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 20000;
    if (iterations <= 0) {
        fprintf(stderr, "iterations must be positive\n");
        return 2;
    }
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    unsigned char secret[32];
    unsigned char peer_secret[32];
    unsigned char message[32];
    unsigned char aux[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (unsigned char)(i * 7 + 1);
        secret[i] = (unsigned char)(i + 1);
        peer_secret[i] = (unsigned char)(200 - i);
        message[i] = (unsigned char)(i * 3);
        aux[i] = (unsigned char)(255 - i);
    }
    if (!secp256k1_context_randomize(ctx, seed)) return 1;

    secp256k1_keypair keypair;
    secp256k1_xonly_pubkey xonly;
    if (!secp256k1_keypair_create(ctx, &keypair, secret)) return 1;
    if (!secp256k1_keypair_xonly_pub(ctx, &xonly, NULL, &keypair)) return 1;
    secp256k1_pubkey peer;
    if (!secp256k1_ec_pubkey_create(ctx, &peer, peer_secret)) return 1;

    unsigned char signature[64];
    unsigned char shared[32];
    volatile int sink = 0;

    double start = now_ns();
    for (long i = 0; i < iterations; i++) {
        message[0] = (unsigned char)i;
        sink += secp256k1_schnorrsig_sign32(ctx, signature, message, &keypair, aux);
    }
    printf("sign %.1f\n", (now_ns() - start) / (double)iterations);

    message[0] = 0;
    if (!secp256k1_schnorrsig_sign32(ctx, signature, message, &keypair, aux)) return 1;
    start = now_ns();
    for (long i = 0; i < iterations; i++) {
        sink += secp256k1_schnorrsig_verify(ctx, signature, message, 32, &xonly);
    }
    printf("verify %.1f\n", (now_ns() - start) / (double)iterations);

    start = now_ns();
    for (long i = 0; i < iterations; i++) {
        sink += secp256k1_ecdh(ctx, shared, &peer, secret, copy_x, NULL);
    }
    printf("ecdh %.1f\n", (now_ns() - start) / (double)iterations);

    secp256k1_context_destroy(ctx);
    return sink == 3 * iterations ? 0 : 1;
}
