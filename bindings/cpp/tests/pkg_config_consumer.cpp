// Built with `pkg-config --cflags --libs inworld` only: the flags are enough to
// compile the wrapper (INWORLD_ENGINE included) and link the library.
#include "inworld.hpp"

#include <cstdio>

int main() {
    auto engine = inworld::Engine::start();
    if (!engine) {
        std::printf("engine: %s\n", engine.error().message.c_str());
        return 1;
    }
    auto address = engine->address();
    auto scene = engine->scene_name(0);
    if (!address || !scene || scene.value().find("workspaces/") != 0) return 1;
    std::printf("library %u, engine at %s, scene %s\n", inworld::version(), address.value().c_str(),
                scene.value().c_str());
    engine = inworld::Engine();
    if (!inworld::shutdown()) return 1;
    std::printf("pkg_config_consumer: OK\n");
    return 0;
}
