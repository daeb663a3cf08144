/* Links our static library and a second Rust static library (other.rs) into
 * one program: what is not iw_* in ours must not clash with theirs. */
#include <stdint.h>
#include <stdio.h>

#include "inworld.h"

uint64_t other_sum_of_squares(uint32_t n);
int32_t other_caught_panic(void);

int main(void) {
    iw_client_config config;
    iw_client *client = NULL;
    if (iw_version() == 0) {
        fprintf(stderr, "iw_version() is 0\n");
        return 1;
    }
    if (iw_client_config_init(&config) != IW_OK) {
        fprintf(stderr, "iw_client_config_init failed\n");
        return 1;
    }
    config.host = "127.0.0.1:9";
    config.api_key = "key";
    config.api_secret = "secret";
    config.scene = "workspaces/demo/scenes/tavern";
    /* Starts the library's runtime and threads; does no I/O. */
    if (iw_client_new(IW_ABI_VERSION, &config, &client) != IW_OK) {
        fprintf(stderr, "iw_client_new failed\n");
        return 1;
    }
    iw_client_free(client);
    if (other_sum_of_squares(10) != 385) {
        fprintf(stderr, "the other library computes wrongly\n");
        return 1;
    }
    if (other_caught_panic() != 1) {
        fprintf(stderr, "the other library's panic was not caught\n");
        return 1;
    }
    iw_shutdown();
    printf("two_rust_libraries: OK\n");
    return 0;
}
