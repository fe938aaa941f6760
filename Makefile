# Thin wrapper: installs missing Debian packages, configures and builds with CMake, runs or tests.
BUILD ?= build
APP ?= apps/todos
PORT ?= 8080
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps run test clean asan

all: build

deps:
	@./tests/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	$(BUILD)/pikku serve $(APP) --port $(PORT)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

asan:
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DPIKKU_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" test

clean:
	rm -rf $(BUILD) build-asan
