#pragma once
// Finding one host-preparation step by name, for the tests that exercise a single step.

#include "agent/steps/step.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace graft::test {

inline const agent::step& step_named(std::string_view name) {
    for (const agent::step* s : agent::all_steps())
        if (s->name() == name) return *s;
    throw std::logic_error("no host-preparation step named " + std::string(name));
}

}  // namespace graft::test
