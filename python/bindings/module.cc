// NB_MODULE(_core): the private extension module, re-exported by python/inputpipe/__init__.py.
// Each area registers itself (bindings.h); the weak ones only when their file is linked in.
#include "bindings.h"
#include "inputpipe/version.h"

NB_MODULE(_core, m) {
  namespace py = inputpipe::python;
  namespace nb = nanobind;
  m.doc() = "inputpipe's C++ engine (private: use the `inputpipe` package)";
  m.attr("__version__") = inputpipe::Version();
  // A module-level pipeline with a Python callable is a reference cycle the garbage collector
  // cannot see (function globals -> dataset -> C++ std::function -> function), still alive when
  // nanobind checks for leaks at exit; the warnings would only be noise for users.
  nb::set_leak_warnings(false);
  py::RegisterErrors(m);
  py::RegisterShutdown(m);
  py::RegisterDatasets(m);
  py::RegisterResultBuffers(m);
  py::RegisterOptions(m);
  if (py::RegisterReorder) py::RegisterReorder(m);
  if (py::RegisterReaders) py::RegisterReaders(m);
  if (py::RegisterHook) py::RegisterHook(m);
  if (py::RegisterFileSystems) py::RegisterFileSystems(m);
  if (py::RegisterRandomAccessSources) py::RegisterRandomAccessSources(m);
}
