"""Extends opencti-sim's GraphQL schema subset with what new documents need.

    python3 scripts/schema-subset/subset.py \
        --platform <opencti checkout>/opencti-platform/opencti-graphql \
        --base crates/opencti-sim/schema/opencti-connector-schema.graphql \
            [--overlay scripts/schema-subset/overlay-7x.graphql] \
    DOCUMENT.graphql... > extension.graphql

Reads the platform's schema files (config/schema/opencti.graphql and every
src/modules/**/*.graphql, `extend type` blocks merged), checks every document
against the whole schema, and prints `extend` blocks (and new definitions)
holding exactly what the documents use and the base subset lacks: the types
and fields they select, the types of their fragments, the input types and
enums of the arguments of every kept field, and the interface fields each
kept implementation must declare. Definitions are the platform's, without
descriptions; each new one is preceded by the file it comes from. Finally the
base plus the printed text is checked to validate every document.

Needs graphql-core 3.2 (`python3 -m pip install graphql-core`).
"""

import argparse
import glob
import os
import sys

from graphql import (
    TypeInfo,
    Visitor,
    build_ast_schema,
    get_named_type,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import (
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
)
from graphql.utilities import TypeInfoVisitor

BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
EXTENSION_OF = {
    ObjectTypeExtensionNode: ObjectTypeDefinitionNode,
    InterfaceTypeExtensionNode: InterfaceTypeDefinitionNode,
    InputObjectTypeExtensionNode: InputObjectTypeDefinitionNode,
    EnumTypeExtensionNode: EnumTypeDefinitionNode,
    UnionTypeExtensionNode: UnionTypeDefinitionNode,
}


class Definition:
    """One platform type, extensions merged: members keep their source file."""

    def __init__(self, node, source):
        self.kind = type(node)
        self.name = node.name.value
        self.source = source
        self.node = node
        self.interfaces = [i.name.value for i in getattr(node, "interfaces", None) or []]
        self.members = {}  # field / input field / enum value name -> (node, file)
        self.union_types = [t.name.value for t in getattr(node, "types", None) or []]
        self.add(node, source)

    def add(self, node, source):
        for member in (
            list(getattr(node, "fields", None) or [])
            + list(getattr(node, "values", None) or [])
        ):
            self.members.setdefault(member.name.value, (member, source))
        for interface in getattr(node, "interfaces", None) or []:
            if interface.name.value not in self.interfaces:
                self.interfaces.append(interface.name.value)
        for member_type in getattr(node, "types", None) or []:
            if member_type.name.value not in self.union_types:
                self.union_types.append(member_type.name.value)


def load_platform(platform_dir, overlays=()):
    files = [os.path.join(platform_dir, "config/schema/opencti.graphql")]
    files += sorted(glob.glob(os.path.join(platform_dir, "src/modules/**/*.graphql"), recursive=True))
    files += list(overlays)
    definitions, extensions, others = {}, [], []
    for path in files:
        if path in overlays:
            source = os.path.basename(path)
        else:
            source = os.path.relpath(path, os.path.dirname(os.path.dirname(platform_dir)))
        with open(path) as f:
            document = parse(f.read(), no_location=True)
        for node in document.definitions:
            if isinstance(node, TypeDefinitionNode) and node.name.value in definitions:
                # Modules repeat `type Query`/`type Mutation`; the platform merges them.
                definitions[node.name.value].add(node, source)
            elif isinstance(node, TypeDefinitionNode):
                definitions[node.name.value] = Definition(node, source)
            elif isinstance(node, TypeExtensionNode):
                extensions.append((node, source))
            else:
                others.append(node)
    for node, source in extensions:
        name = node.name.value
        if name in definitions:
            definitions[name].add(node, source)
        else:
            definitions[name] = Definition(node, source)
        # An overlay's new interface field is declared by its implementations too.
        if isinstance(node, InterfaceTypeExtensionNode) and source in map(os.path.basename, overlays):
            for definition in definitions.values():
                if name in definition.interfaces:
                    definition.add(node, source)
    return definitions, others


def merged_document(definitions, others):
    """The whole platform schema as one SDL text (extensions folded in)."""
    parts = [print_ast(node) for node in others]
    for definition in definitions.values():
        parts.append(render(definition, list(definition.members), definition.interfaces, full=True))
    return "\n\n".join(parts)


def render(definition, member_names, interfaces, full=False, extend=False):
    keyword = {
        ObjectTypeDefinitionNode: "type",
        ObjectTypeExtensionNode: "type",
        InterfaceTypeDefinitionNode: "interface",
        InterfaceTypeExtensionNode: "interface",
        InputObjectTypeDefinitionNode: "input",
        InputObjectTypeExtensionNode: "input",
        EnumTypeDefinitionNode: "enum",
        EnumTypeExtensionNode: "enum",
        UnionTypeDefinitionNode: "union",
        UnionTypeExtensionNode: "union",
        ScalarTypeDefinitionNode: "scalar",
    }[definition.kind]
    head = ("extend " if extend else "") + f"{keyword} {definition.name}"
    if keyword == "scalar":
        return head
    if keyword == "union":
        members = definition.union_types if full else interfaces
        return f"{head} = {' | '.join(members)}"
    if interfaces:
        head += " implements " + " & ".join(interfaces)
    directives = getattr(definition.node, "directives", None) or []
    if directives and not extend:
        head += " " + " ".join(print_ast(d) for d in directives)
    lines = [head + " {"]
    for name in member_names:
        member, source = definition.members[name]
        if source != definition.source and not full:
            lines.append(f"  # {source}")
        text = print_ast(member.__class__(**{k: getattr(member, k) for k in member.keys if k != "description"}))
        lines.append("  " + text.replace("\n", "\n  "))
    lines.append("}")
    return "\n".join(lines)


class Usage:
    """Types and members the documents need."""

    def __init__(self):
        self.types = set()
        self.members = {}
        # (abstract parent type, fragment type condition) pairs
        self.spreads = set()

    def use_type(self, name):
        self.types.add(name)
        self.members.setdefault(name, set())

    def use_member(self, type_name, member):
        self.use_type(type_name)
        self.members[type_name].add(member)


def collect(schema, documents, usage):
    for document in documents:
        type_info = TypeInfo(schema)

        class Collector(Visitor):
            def enter_field(self, node, *_):
                parent = type_info.get_parent_type()
                if parent is not None and not node.name.value.startswith("__"):
                    usage.use_member(parent.name, node.name.value)

            def enter_inline_fragment(self, node, *_):
                if node.type_condition:
                    usage.use_type(node.type_condition.name.value)
                    parent = type_info.get_parent_type()
                    if parent is not None:
                        usage.spreads.add((parent.name, node.type_condition.name.value))

            def enter_fragment_definition(self, node, *_):
                usage.use_type(node.type_condition.name.value)

            def enter_variable_definition(self, node, *_):
                usage.use_type(get_named_type_name(node.type))

            def enter_operation_definition(self, node, *_):
                usage.use_type(node.operation.value.capitalize())

        visit(document, TypeInfoVisitor(type_info, Collector()))


def get_named_type_name(type_node):
    while hasattr(type_node, "type"):
        type_node = type_node.type
    return type_node.name.value


def possible_types(definitions, name):
    """Object types a value of type `name` may have."""
    definition = definitions.get(name)
    if definition is None:
        return set()
    if definition.kind in (UnionTypeDefinitionNode, UnionTypeExtensionNode):
        return set(definition.union_types)
    if definition.kind in (InterfaceTypeDefinitionNode, InterfaceTypeExtensionNode):
        return {n for n, d in definitions.items() if name in d.interfaces and d.kind in (ObjectTypeDefinitionNode, ObjectTypeExtensionNode)}
    return {name}


def close(definitions, usage, base):
    """Adds what the kept members need, until nothing changes."""
    changed = True
    while changed:
        changed = False
        before = (len(usage.types), sum(len(m) for m in usage.members.values()))
        # A fragment on an abstract type needs a kept type both may be.
        for parent, condition in usage.spreads:
            shared = possible_types(definitions, parent) & possible_types(definitions, condition)
            if shared and not shared & usage.types:
                usage.use_type(sorted(shared)[0])
        for type_name in list(usage.types):
            definition = definitions.get(type_name)
            if definition is None:
                continue
            if definition.kind in (InputObjectTypeDefinitionNode, InputObjectTypeExtensionNode, EnumTypeDefinitionNode, EnumTypeExtensionNode):
                for member in definition.members:
                    usage.use_member(type_name, member)
            for member in list(usage.members[type_name]):
                node, _ = definition.members[member]
                if hasattr(node, "type"):
                    usage.use_type(get_named_type_name(node.type))
                for argument in getattr(node, "arguments", None) or []:
                    usage.use_type(get_named_type_name(argument.type))
            # An implementation declares every kept field of its kept interfaces.
            for interface in definition.interfaces:
                if interface in usage.types:
                    for member in usage.members[interface] | base.members.get(interface, set()):
                        if member in definition.members:
                            usage.use_member(type_name, member)
        after = (len(usage.types), sum(len(m) for m in usage.members.values()))
        changed = before != after


class Base:
    def __init__(self, text):
        document = parse(text, no_location=True)
        self.members = {}
        self.interfaces = {}
        self.types = set()
        for node in document.definitions:
            if isinstance(node, (TypeDefinitionNode, TypeExtensionNode)):
                name = node.name.value
                self.types.add(name)
                members = self.members.setdefault(name, set())
                for member in list(getattr(node, "fields", None) or []) + list(getattr(node, "values", None) or []):
                    members.add(member.name.value)
                self.interfaces.setdefault(name, set()).update(
                    i.name.value for i in getattr(node, "interfaces", None) or []
                )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", required=True, help="opencti-platform/opencti-graphql directory")
    parser.add_argument("--base", required=True, help="the current subset")
    parser.add_argument("--overlay", action="append", default=[], help="extra platform definitions (SDL), applied last")
    parser.add_argument("documents", nargs="+")
    args = parser.parse_args()

    definitions, others = load_platform(args.platform, args.overlay)
    full = build_ast_schema(parse(merged_document(definitions, others)), assume_valid_sdl=True)
    documents = []
    for path in args.documents:
        with open(path) as f:
            document = parse(f.read())
        errors = validate(full, document)
        if errors:
            sys.exit(f"{path} does not validate against the platform schema: {errors[0].message}")
        documents.append(document)

    with open(args.base) as f:
        base_text = f.read()
    base = Base(base_text)
    usage = Usage()
    collect(full, documents, usage)
    close(definitions, usage, base)

    blocks = []
    for name in sorted(usage.types, key=lambda n: (definitions[n].source if n in definitions else "", n)):
        if name in BUILTIN_SCALARS or name not in definitions:
            continue
        definition = definitions[name]
        members = [m for m in definition.members if m in usage.members[name]]
        if definition.kind in (UnionTypeDefinitionNode, UnionTypeExtensionNode):
            kept = [t for t in definition.union_types if t in usage.types]
            if name in base.types:
                continue
            blocks.append(f"# {definition.source}\n" + render(definition, [], kept))
            continue
        interfaces = [i for i in definition.interfaces if i in usage.types or i in base.types]
        if name in base.types:
            new_members = [m for m in members if m not in base.members[name]]
            new_interfaces = [i for i in interfaces if i not in base.interfaces.get(name, set())]
            if new_members or new_interfaces:
                blocks.append(f"# {definition.source}\n" + render(definition, new_members, new_interfaces, extend=True))
            continue
        blocks.append(f"# {definition.source}\n" + render(definition, members, interfaces))
    extension = "\n\n".join(blocks) + "\n"

    combined = build_ast_schema(parse(base_text + "\n" + extension))
    for path, document in zip(args.documents, documents):
        errors = validate(combined, document)
        if errors:
            sys.exit(f"{path} does not validate against the extended subset: {errors[0].message}")
    sys.stdout.write(extension)


if __name__ == "__main__":
    main()
