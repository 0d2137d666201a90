"""An ONNX file read back into cnnctl's notation (`cnnctl import model.onnx -o net.yaml`).

Reads the graph with the `onnx` package (no runtime, no torch, nothing executed: ONNX is
data) and maps each operator of OPERATORS to a layer kind (that table is what `cnnctl import
--help` lists, and what an unknown operator's hint names). An activation whose input is read
by nothing else joins the layer before it as `act=` (`conv ... act=relu`), as does
x * sigmoid(x) (SiLU). A layer gets an id only where a later layer other than the next reads
it; ids come from the weights' names (`layer1.1.conv1.weight` -> `layer1_1_conv1`), else from
the ONNX node's. What cnnctl cannot read is a problem naming the ONNX node (its name,
operator and index), at the file; every such problem of a file is told in one run.

An ONNX file is anything anyone wrote, so what is read is bounded (cnnctl/limits.py):

- The file: only a regular file (a folder, a FIFO, a device is refused before it is opened,
  and it is opened without blocking and checked again), of at most MAX_ONNX_BYTES (2 GiB,
  protobuf's own limit for one message), read by cnnctl and then parsed.
- The graph is checked before any node is read: each input made by the graph's input, an
  initializer or an earlier node (so a cycle is a located problem, not a loop), each node with
  an output, no tensor made twice, each operator with the inputs and the attributes (of the
  right types) it needs. Whatever still trips a reader is a located "malformed node" problem.
- External data (tensors whose values lie in another file): `onnx` is never let resolve it.
  Importing a network needs only a weight's dims, which the file holds even where its values
  lie elsewhere: `import_onnx` never reads them; `read_weights` reads one when asked (`cnnctl
  import -o` writes them beside the network, `--weights FILE.onnx` loads them), by the same
  rules as the constants below. The constants whose values are read (clip bounds, resize
  scales, reshape shapes, slice bounds) are read only where they hold at most
  MAX_ONNX_CONSTANT values, and, where stored outside, only from a regular file inside the
  model's own folder (the folder of the path given, never the working directory): a location
  that is absolute or holds `..`, a link leading out of the folder, a FIFO, a device, or an
  offset and length that do not fit the file or the tensor are refused, at the node.
- The network made is built to check it (`build_imported`); a layer that does not build is
  told at the ONNX node(s) it came from, with the builder's shapes and hint.

An export with dynamic sizes is read at the size `--input` gives (given_input): set in the graph's
input, so that shape inference and the sizes worked out from them (`fold`) are of one image of it.
A file of another format (a TorchScript archive, a PyTorch state_dict, a .safetensors file) is
told as what it is (not_onnx), known by its first bytes, a zip by the names it lists.

The package, a module an idea: file (the ONNX file itself), not_onnx (what else it may be),
given_input (the input's size), told (how a problem is told), attributes, values (constants,
weights, shapes), stored_layouts (weights the graph transposes or reshapes, as constant folding
would have stored them), wiring (the graph checked and asked), prelude,
patterns (layers of several operators), excitation (squeeze-and-excitation by fcs, read as 1x1
convs), the families of readers (conv_and_pool, normalisation,
eca, attention, arithmetic, activations, reshapes) mixed into reader, writing (the network file),
network (the steps in order) and imported_weights.
"""

from .file import read_onnx
from .imported_weights import ImportedWeights, read_weights
from .network import build_imported, import_onnx, read_network
from .operators import FUSES, OPERATORS, operators_read
from .writing import Imported

__all__ = [
    "FUSES",
    "OPERATORS",
    "Imported",
    "ImportedWeights",
    "build_imported",
    "import_onnx",
    "operators_read",
    "read_network",
    "read_onnx",
    "read_weights",
]
