# imgpipe: Unix tools for training image networks from data that does not fit in memory.
# Plain GNU make. `make -j2` builds every tool into bin/; `make test` runs every suite.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(DESTDIR)$(PREFIX)/bin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man

CCACHE  := $(shell command -v ccache 2>/dev/null)
CXX     := $(CCACHE) g++
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -pthread
CPPFLAGS += -Ilib -MMD -MP
LDFLAGS  += -pthread -Wl,--as-needed

# Image libraries for the data tools (libvips, plus the fast JPEG and PNG paths).
IMAGE_PKGS   := vips-cpp libturbojpeg spng
IMAGE_CFLAGS := $(shell pkg-config --cflags $(IMAGE_PKGS) 2>/dev/null)
IMAGE_LIBS   := $(shell pkg-config --libs $(IMAGE_PKGS) 2>/dev/null)

# libtorch for the nn tools: Debian's libtorch-dev by default, or any libtorch
# tree (a CUDA build, say) with `make TORCH=/path/to/libtorch`.
ifdef TORCH
TORCH_CFLAGS := -isystem $(TORCH)/include -isystem $(TORCH)/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$(or $(TORCH_ABI),1)
TORCH_LIBS   := -L$(TORCH)/lib -Wl,-rpath,$(TORCH)/lib -Wl,--no-as-needed $(if $(wildcard $(TORCH)/lib/libtorch_cuda.so),-ltorch_cuda -lc10_cuda) -ltorch -ltorch_cpu -lc10 -Wl,--as-needed
else
TORCH_CFLAGS := -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS   := -ltorch -ltorch_cpu -lc10
endif

BUILD := build
DATA_LIB_SRC := $(filter-out lib/nn/%,$(wildcard lib/*/*.cpp))
NN_LIB_SRC   := $(wildcard lib/nn/*.cpp)
NN_TOOLS     := $(filter nntrain nneval nnpredict,$(notdir $(basename $(wildcard tools/*.cpp))))
DATA_TOOLS   := $(sort $(filter-out $(NN_TOOLS),$(notdir $(basename $(wildcard tools/*.cpp)))))
TOOLS        := $(DATA_TOOLS) $(NN_TOOLS)
UNIT_SRC     := $(wildcard tests/unit/*.cpp)
NN_TEST_SRC  := $(wildcard tests/nn/*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/%.o,$(1))
DATA_LIB := $(BUILD)/libimgpipe.a
NN_LIB   := $(BUILD)/libimgpipe_nn.a

.PHONY: all deps test check install uninstall clean bench demo
all: $(addprefix bin/,$(TOOLS))

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(IMAGE_CFLAGS) $(CXXFLAGS) -c $< -o $@

# Only lib/nn, the nn tools and their tests see torch headers.
$(BUILD)/lib/nn/%.o $(BUILD)/tests/nn/%.o: CPPFLAGS += $(TORCH_CFLAGS)

$(DATA_LIB): $(call obj,$(DATA_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(NN_LIB): $(call obj,$(NN_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(addprefix bin/,$(DATA_TOOLS)): bin/%: $(BUILD)/tools/%.o $(DATA_LIB)
	@mkdir -p bin
	$(CXX) $(LDFLAGS) $^ -o $@ $(IMAGE_LIBS)
$(addprefix bin/,$(NN_TOOLS)): bin/%: $(BUILD)/tools/%.o $(NN_LIB) $(DATA_LIB)
	@mkdir -p bin
	$(CXX) $(LDFLAGS) $^ -o $@ $(TORCH_LIBS) $(IMAGE_LIBS)

$(BUILD)/unit_tests: $(call obj,$(UNIT_SRC)) $(DATA_LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(IMAGE_LIBS)
$(BUILD)/nn_tests: $(call obj,$(NN_TEST_SRC)) $(NN_LIB) $(DATA_LIB)
	$(CXX) $(LDFLAGS) $^ -o $@ $(TORCH_LIBS) $(IMAGE_LIBS)

# The Debian packages the project needs; installs only what is missing.
DEB_PACKAGES := g++ make pkg-config ccache libvips-dev libcli11-dev nlohmann-json3-dev catch2 libtorch-dev \
  libturbojpeg0-dev libspng-dev dataset-fashion-mnist python3-numpy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_PACKAGES := python3-torch python3-torchvision python3-pil python3-skimage hyperfine time
deps:
	@missing=$$(for p in $(DEB_PACKAGES) $(EXTRA_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Installs what is missing, builds, runs every suite; ends with "N passed, N failed".
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all $(BUILD)/unit_tests $(if $(NN_TEST_SRC),$(BUILD)/nn_tests)
	@tests/run

check: test

# The README's first command: Fashion-MNIST through the whole pipeline.
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C examples/fashion-mnist

bench: all
	$(MAKE) deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	bench/run

install: all
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5
	install -m 755 $(addprefix bin/,$(TOOLS)) $(BINDIR)
	install -m 644 man/man1/*.1 $(MANDIR)/man1
	install -m 644 man/man5/*.5 $(MANDIR)/man5

uninstall:
	rm -f $(addprefix $(BINDIR)/,$(TOOLS))
	rm -f $(addprefix $(MANDIR)/man1/,$(notdir $(wildcard man/man1/*.1))) $(addprefix $(MANDIR)/man5/,$(notdir $(wildcard man/man5/*.5)))

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
