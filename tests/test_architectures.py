"""Bundled architectures give the independently published numbers, exactly.

Sources: LeCun 1998 and Krizhevsky 2012 as computed in the course notes; torchvision's
published parameter counts and GFLOPS (= multiply-accumulates); Szegedy 2014, Table 1.
"""

import pytest

import cnnctl

REFERENCE = {
    # name: (input, params, multiplications)
    "lenet5": ((32, 32, 1), 61_706, 416_520),
    "alexnet": ((227, 227, 3), 62_378_344, 1_135_256_096),
    "vgg16": ((224, 224, 3), 138_357_544, 15_470_264_320),
    "resnet18": ((224, 224, 3), 11_689_512, 1_814_073_344),
    "resnet34": ((224, 224, 3), 21_797_672, 3_663_761_408),
    "resnet50": ((224, 224, 3), 25_557_032, 4_089_184_256),
    "resnet101": ((224, 224, 3), 44_549_160, 7_801_405_440),
    "resnet152": ((224, 224, 3), 60_192_808, 11_513_626_624),
    "googlenet": ((224, 224, 3), 6_998_552, 1_582_671_872),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_bundled_architecture_matches_reference(name):
    shape, params, mults = REFERENCE[name]
    graph = cnnctl.load(name)
    assert graph.input_shape == shape
    assert graph.params == params
    assert graph.mults == mults


def test_every_bundled_file_is_in_the_reference_table():
    from cnnctl.catalog import bundled

    assert set(bundled()) == set(REFERENCE)
