# Thin wrapper: installs missing Debian packages, configures and builds with CMake, runs or tests.
BUILD ?= build
APP ?= apps/todos
PORT ?= 8080
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps deps-run run test clean asan

all: build

# what the tests need too (make test); deps-run: only what building and serving need (make run)
deps:
	@./tests/install-deps.sh

deps-run:
	@./tests/install-deps.sh run

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: deps-run build
	$(BUILD)/pikku serve $(APP) --port $(PORT)

# configures again: a build made by `make run` before the test tools were there finds them now
test: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

asan:
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DPIKKU_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" test

clean:
	rm -rf $(BUILD) build-asan
