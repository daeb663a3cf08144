// chat.cpp: the console chat in C++, through the header-only wrapper.
//
// By default it starts the local engine in-process with its demo scene (the
// tavern: Marta the innkeeper, Finn the bard, Sergeant Holt), so it runs
// offline. With INWORLD_HOST, INWORLD_KEY, INWORLD_SECRET and INWORLD_SCENE
// all set, it talks to that engine instead.
//
// Type a line to talk. Commands:
//   /trigger NAME [key=value ...]   send a trigger, with parameters
//   /action TEXT                    narrate what you do ("waves")
//   /character NAME                 talk to another character
//   /characters                     list the scene's characters
//   /help, /quit                    (end of input quits too)
//
// After each line the program runs a game loop: it polls the session once per
// ~16 ms frame and prints the reply as it streams, until the reply's
// interaction end (or INWORLD_CHAT_REPLY_TIMEOUT seconds, default 60, without
// it). Reading the next line blocks: fine for a console, never in a game.
#include "inworld.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

const char* env(const char* name) {
    const char* value = std::getenv(name);
    return value && *value ? value : nullptr;
}

void print_error(const char* what, const inworld::Error& error) {
    std::printf("! %s: %s (%s)\n", what, error.message.c_str(), std::string(error.name()).c_str());
}

/// The display name of a character id, for printing who speaks.
std::string name_of(const std::vector<inworld::Character>& characters, std::string_view id) {
    for (const auto& c : characters)
        if (c.id == id) return c.display_name;
    return std::string(id);
}

class Chat {
  public:
    explicit Chat(inworld::Session session) : session_(std::move(session)) {}

    /// Waits (frame by frame) for the scene; false if it never loads.
    bool wait_ready(std::chrono::seconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            frame();
            if (session_.state().value_or(0) == IW_STATE_READY) {
                characters_ = session_.characters().value_or({});
                return true;
            }
            if (closed_) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(16));
        }
        return false;
    }

    void run() {
        print_current();
        std::string line;
        std::printf("> ");
        std::fflush(stdout);
        while (std::getline(std::cin, line)) {
            if (line == "/quit") break;
            if (!line.empty()) handle(line);
            if (closed_) break;
            std::printf("> ");
            std::fflush(stdout);
        }
        std::printf("\nbye\n");
    }

  private:
    void handle(const std::string& line) {
        std::istringstream words(line);
        std::string command;
        words >> command;
        std::string rest;
        std::getline(words, rest);
        if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);

        if (command == "/help") {
            std::printf("/trigger NAME [key=value ...], /action TEXT, /character NAME, /characters, /quit\n");
        } else if (command == "/characters") {
            for (const auto& c : characters_) std::printf("  %s (%s)\n", c.display_name.c_str(), c.resource_name.c_str());
        } else if (command == "/character") {
            if (auto r = session_.set_character(rest); !r) return print_error("character", r.error());
            print_current();
        } else if (command == "/action") {
            await(session_.send_narrated_action(rest));
        } else if (command == "/trigger") {
            std::istringstream args(rest);
            std::string name, pair;
            args >> name;
            std::vector<std::string> pairs;
            while (args >> pair) {
                if (pair.find('=') == std::string::npos) return (void)std::printf("! parameters are key=value\n");
                pairs.push_back(pair);
            }
            inworld::Parameters params;
            for (const std::string& kv : pairs) {
                std::string_view view(kv);
                auto eq = view.find('=');
                params.emplace_back(view.substr(0, eq), view.substr(eq + 1));
            }
            await(session_.send_trigger(name, params));
        } else if (command.size() > 1 && command.front() == '/') {
            std::printf("! unknown command %s (/help)\n", command.c_str());
        } else {
            await(session_.send_text(line));
        }
    }

    /// The game loop while a reply streams: one poll per frame until it ends.
    void await(inworld::Result<inworld::SentIds> sent) {
        if (!sent) return print_error("send", sent.error());
        waiting_for_ = sent->interaction_id;
        ended_ = false;
        double limit_s = 60;
        if (const char* t = env("INWORLD_CHAT_REPLY_TIMEOUT")) limit_s = std::atof(t);
        auto last_packet = std::chrono::steady_clock::now();
        while (!ended_ && !closed_) {
            if (frame() > 0) last_packet = std::chrono::steady_clock::now();
            if (std::chrono::steady_clock::now() - last_packet > std::chrono::duration<double>(limit_s)) {
                std::printf("! no reply for %.0f s: giving up on it\n", limit_s);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(16));
        }
    }

    /// One frame: drains the session, prints what the game would show.
    size_t frame() {
        auto polled = session_.poll([this](const inworld::Packet& p) { show(p); });
        if (!polled) {
            print_error("poll", polled.error());
            closed_ = true;
            return 0;
        }
        return *polled;
    }

    void show(const inworld::Packet& packet) {
        bool mine = packet.ids().interaction_id == waiting_for_;
        std::visit(inworld::overloaded{
                       [&](const inworld::Text& t) {
                           if (packet.source().is_character() && t.is_final)
                               std::printf("%s: %.*s\n", name_of(characters_, packet.source().name).c_str(),
                                           (int)t.text.size(), t.text.data());
                       },
                       [&](const inworld::Emotion& e) {
                           std::printf("  (%s, %s)\n", std::string(e.behavior_name()).c_str(),
                                       std::string(e.strength_name()).c_str());
                       },
                       [&](const inworld::Trigger& t) {
                           std::printf("  [trigger %.*s]\n", (int)t.name.size(), t.name.data());
                       },
                       [&](const inworld::Control& c) {
                           if (mine && c.is_interaction_end()) ended_ = true;
                       },
                       [&](const inworld::ServiceError& e) {
                           std::printf("! %.*s%s\n", (int)e.message().size(), e.message().data(),
                                       e.will_retry() ? " (reconnecting)" : "");
                       },
                       [&](const inworld::Connection& c) {
                           if (c.state == IW_STATE_CLOSED) closed_ = true;
                       },
                       [&](const inworld::SendFailed& f) {
                           std::printf("! not sent: %.*s\n", (int)f.message.size(), f.message.data());
                           if (mine) ended_ = true;
                       },
                       [&](const inworld::Overflow& o) {
                           std::printf("! %llu packets dropped\n", (unsigned long long)o.dropped);
                       },
                       [](const auto&) {},
                   },
                   packet.body());
    }

    void print_current() {
        if (auto c = session_.current_character())
            std::printf("(talking to %s; /help for commands)\n", c->display_name.c_str());
    }

    inworld::Session session_;
    std::vector<inworld::Character> characters_;
    std::string waiting_for_;
    bool ended_ = false;
    bool closed_ = false;
};

}  // namespace

int main() {
    inworld::ClientConfig config;
    config.user_name = "Traveller";
    config.capabilities = IW_CAP_DEFAULT | IW_CAP_EMOTIONS;
    // Only catches a hang: a slow machine may take a while to load the scene.
    config.scene_timeout_ms = 120000;

    inworld::Engine engine;
    if (env("INWORLD_HOST")) {
        if (!env("INWORLD_KEY") || !env("INWORLD_SECRET") || !env("INWORLD_SCENE")) {
            std::fprintf(stderr, "INWORLD_HOST needs INWORLD_KEY, INWORLD_SECRET and INWORLD_SCENE too\n");
            return 2;
        }
        config.host = env("INWORLD_HOST");
        config.api_key = env("INWORLD_KEY");
        config.api_secret = env("INWORLD_SECRET");
        config.scene = env("INWORLD_SCENE");
    } else {
        auto started = inworld::Engine::start();
        if (!started) return print_error("local engine", started.error()), 1;
        engine = std::move(started).value();
        config.host = engine.address().value_or("");
        config.scene = engine.scene_name(0).value_or("");
        config.api_key = "test-api-key";
        config.api_secret = "test-api-secret";
        config.tls = IW_TLS_OFF;
        std::printf("local engine at %s, scene %s\n", config.host.c_str(), config.scene.c_str());
    }

    int status = 0;
    {
        auto client = inworld::Client::create(config);
        if (!client) return print_error("client", client.error()), 1;
        auto session = client->open_session();
        if (!session) return print_error("session", session.error()), 1;
        Chat chat(std::move(session).value());
        if (chat.wait_ready(std::chrono::seconds(180))) {
            chat.run();
        } else {
            std::printf("! the scene did not load\n");
            status = 1;
        }
    }
    engine = inworld::Engine();  // frees the engine before the runtime stops
    (void)inworld::shutdown();
    return status;
}
